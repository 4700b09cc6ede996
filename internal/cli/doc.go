// Package cli is the callfix command line: subcommands, flags, help and
// exit codes. cmd/callfix only calls Run, so every path through the command
// line is reachable from tests without building a binary.
package cli
