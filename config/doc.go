// Package config holds callfix's configuration: its types and defaults, the
// Genesys Cloud region table, loading with koanf (defaults, file, CALLFIX_*
// environment, flags), validation that reports every problem at once, and
// reload. It never starts a server.
package config
