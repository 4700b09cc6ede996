// Command callfix-demo is the newcomer's first look at callfix (make demo):
// it starts a recording upstream and the callfix binary on loopback, sends
// a set of legacy call requests, prints what each client sent, what the
// upstream received, the status and the values kept as sent (read from the
// audit log), and stops everything it started.
package main
