// Package report turns audit logs (docs/AUDIT.md) into an answer: per
// client, per field and reason, over time, and what enforce mode would have
// rejected. It streams: memory grows with distinct clients and reasons, not
// with the size of the log. `callfix report` is its command line.
package report
