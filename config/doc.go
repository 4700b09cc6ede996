// Package config holds callfix's configuration: its types and defaults
// (each field's tags say its key, flag, secret and restart-only marks), the
// Genesys Cloud region table, loading with koanf (defaults, file, CALLFIX_*
// environment, flags, decoded by koanf's UnmarshalWithConf), validation
// that reports every problem at once as typed Problems, and reload. It
// never starts a server: the wiring hands each new Snapshot to the proxy.
package config
