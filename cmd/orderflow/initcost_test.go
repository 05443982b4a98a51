package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"
)

// maxCount is the largest counted repetition ({n,m}) a package-level
// regular expression may hold: Go's regexp compiles one into a program as
// long as its count, at every start of every command, in package init
// (docs/benchmarks.md, "Start-up").
const maxCount = 16

func TestNoPackageLevelRegexpRepeatsItselfAtEveryStart(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			ast.Inspect(g, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "MustCompile" {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				expr, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
					return true
				}
				re, err := syntax.Parse(expr, syntax.Perl)
				if err != nil {
					return true // not a regexp/syntax expression
				}
				checked++
				if c := longestCount(re); c > maxCount {
					t.Errorf("%s: %s repeats a part %d times; match with + and check the length apart (at most %d)", fset.Position(lit.Pos()), expr, c, maxCount)
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked %d package-level regular expressions; the walk missed the module's packages", checked)
	}
}

// longestCount is the largest bound of a counted repetition in re.
func longestCount(re *syntax.Regexp) int {
	most := 0
	if re.Op == syntax.OpRepeat {
		most = max(re.Min, re.Max)
	}
	for _, sub := range re.Sub {
		most = max(most, longestCount(sub))
	}
	return most
}
