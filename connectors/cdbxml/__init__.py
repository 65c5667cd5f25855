"""UiTdatabank CdbXML 3.3 (publiq's legacy UiT feed): connector, sandbox and feed generator."""
