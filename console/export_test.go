package console

// LocalPath is localPath, for the tests.
var LocalPath = localPath
