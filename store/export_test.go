package store

// OlderLinkGroupSQL is OlderLinkGroup's query, for the test of its plan.
const OlderLinkGroupSQL = olderLinkGroupSQL
