// Package makefile holds only tests: those of the Makefile a newcomer meets
// first (make with no target, make help, check, test, install, deps).
package makefile
