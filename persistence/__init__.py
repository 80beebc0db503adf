"""Persistence shared by the API and the worker: settings, database, object store, queue."""
