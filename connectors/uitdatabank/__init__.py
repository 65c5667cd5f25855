"""UiTdatabank (publiq) Search API v3 connector: Flemish events as JSON-LD."""
