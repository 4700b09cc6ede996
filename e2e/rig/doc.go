// Command rig runs callfix end to end for tests in other languages: two
// callfix instances ("callfix": plain, "gateway": with the JavaScript SDK's
// gateway prefixes), each in front of a recording login and API upstream,
// and a control endpoint that shows what the upstreams received (see
// package e2e).
//
//	rig -callfix PATH               print {"callfix":ADDR,"gateway":ADDR,"rig":URL} on stdout,
//	                                then serve until stdin ends or SIGTERM/SIGINT
//	rig -callfix PATH -- CMD ARGS…  run CMD with CALLFIX_RIG set, then stop; exit with CMD's status
//
// PATH defaults to $CALLFIX_BIN. Every process the rig starts is stopped
// when it stops.
package main
