package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// fn is one function declaration and its length in lines.
type fn struct {
	name, pos string
	lines     int
}

func main() {
	n := flag.Int("n", 10, "how many functions to list")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: funclen [-n N] [DIR]\n\nLists the N longest functions of the Go product code below DIR (default .):\ntest files, tools/, e2e/, node_modules and testdata are left out.")
		flag.PrintDefaults()
	}
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	fns, err := longest(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(1)
	}
	print(os.Stdout, fns, *n)
}

// longest returns the functions of the product code below root, longest
// first.
func longest(root string) ([]fn, error) {
	var fns []fn
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "testdata", ".git":
				return filepath.SkipDir
			}
			if rel == "tools" || rel == "e2e" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
			fns = append(fns, fn{name: funcName(fd), pos: fmt.Sprintf("%s:%d", rel, start.Line), lines: end.Line - start.Line + 1})
		}
		return nil
	})
	sort.SliceStable(fns, func(i, j int) bool { return fns[i].lines > fns[j].lines })
	return fns, err
}

// funcName is fd's name, with its receiver's type for a method.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	switch x := t.(type) {
	case *ast.IndexExpr:
		t = x.X
	case *ast.IndexListExpr:
		t = x.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return "(" + id.Name + ")." + fd.Name.Name
	}
	return fd.Name.Name
}

func print(w io.Writer, fns []fn, n int) {
	for i := 0; i < n && i < len(fns); i++ {
		fmt.Fprintf(w, "%4d  %-40s %s\n", fns[i].lines, fns[i].name, fns[i].pos)
	}
}
