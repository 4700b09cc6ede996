// Command funclen lists the longest functions of a Go tree, as the note on
// a restructuring quotes them: each function or method declaration's lines,
// from func to its closing brace, test files, tools/ and e2e/ left out.
//
//	go run ./tools/funclen [-n 10] [DIR]
package main
