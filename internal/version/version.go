package version

// Version is the release this binary was built from; "dev" when built
// without the Makefile.
var Version = "dev"
