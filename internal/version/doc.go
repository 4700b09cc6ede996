// Package version holds the build's version string, set by the linker:
// -X github.com/callfix/callfix/internal/version.Version=v1.2.3.
// It exists so that every binary and log line names the same version.
package version
