'use strict';
// The search boxes of federated fields: Django's admin/js/autocomplete.js, plus a badge
// (server and model) on every hit and choice, and the server's page cursor sent back.
{
    const $ = django.jQuery;

    function render(item) {
        // select2 renders its own messages ("Searching…") as items without an id.
        if (item.loading || (!item.id && !item.unavailable)) {
            return item.text;
        }
        const dataset = item.element ? item.element.dataset : {};
        const badge = item.badge || dataset.badge;
        const unavailable = item.unavailable || dataset.unavailable === 'true';
        const $hit = $('<span class="federated-hit"></span>').text(item.text);
        if (badge) {
            $hit.append(' ', $('<span class="federated-badge"></span>').text(badge));
        }
        if (unavailable) {
            $hit.addClass('federated-unavailable');
        }
        return $hit;
    }

    $.fn.federatedAdminSelect2 = function() {
        $.each(this, function(i, element) {
            let cursor = '';
            $(element).select2({
                ajax: {
                    data: (params) => {
                        return {
                            term: params.term,
                            page: params.page,
                            cursor: (params.page || 1) > 1 ? cursor : '',
                            app_label: element.dataset.appLabel,
                            model_name: element.dataset.modelName,
                            field_name: element.dataset.fieldName
                        };
                    },
                    processResults: (data) => {
                        cursor = data.cursor || '';
                        return {results: data.results, pagination: data.pagination};
                    }
                },
                templateResult: render,
                templateSelection: render
            });
        });
        return this;
    };

    $(function() {
        // Not the empty form that a formset copies when a row is added.
        $('.federated-autocomplete').not('[name*=__prefix__]').federatedAdminSelect2();
    });

    document.addEventListener('formset:added', (event) => {
        $(event.target).find('.federated-autocomplete').federatedAdminSelect2();
    });
}
