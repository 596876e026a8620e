package api

// ClientAddr exposes clientAddr to the tests of package api_test.
var ClientAddr = clientAddr
