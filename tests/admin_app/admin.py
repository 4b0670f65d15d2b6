"""Admin of the forms and admin tests: federated inlines on a default-site ``ModelAdmin``."""

from django.contrib import admin

from federated_relations.admin import FederatedStackedInline, FederatedTabularInline

from .models import Category, Episode, Gadget, Media, Note, Wishlist


class MediaInline(FederatedTabularInline):
    model = Media
    extra = 2


class NoteInline(FederatedStackedInline):
    model = Note
    ct_field = "owner_type"
    ct_fk_field = "owner_id"
    extra = 1


@admin.register(Episode)
class EpisodeAdmin(admin.ModelAdmin):
    inlines = [MediaInline, NoteInline]
    save_as = True


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    inlines = [MediaInline]


admin.site.register(Gadget)  # default ModelAdmins, as a new user writes them
admin.site.register(Wishlist)
