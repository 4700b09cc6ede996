// Command callfix-chaos is callfix's fault campaign: it runs the built
// callfix binary on loopback against a fault-injecting upstream and holds
// it to its promises (no request sent twice, no lost answer, no bad
// configuration in force, a drain that refuses no one, bounded growth),
// prints a table of figures and exits 1 on any breach.
//
//	make chaos                   # every scenario, under 5 minutes on 2 cores
//	make soak SOAK=10m           # the soak alone, longer
//	go run ./tools/callfix-chaos -callfix bin/callfix -only stale -stale-n 1000
//
// Everything it starts listens on 127.0.0.1 and is stopped before it
// exits; every loop is bounded in count and time (-timeout).
package main
