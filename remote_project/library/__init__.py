"""The book catalogue of remote_project (Hilltop Books), exposed to its peers."""
