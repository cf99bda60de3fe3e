package main

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/resilientrecords/resilientrecords/store/storetest"
)

// TestMain lets the scripts run this test binary as the rrec command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"rrec": main})
}

// TestScripts runs every testdata/*.txtar script against the rrec command.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"keystream": cmdKeystream,
		},
	})
}

// cmdKeystream writes the first N bytes of the golden-vector keystream to a file:
//
//	keystream N FILE
func cmdKeystream(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: keystream N FILE")
	}
	n, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		ts.Fatalf("keystream: %v", err)
	}
	f, err := os.Create(ts.MkAbs(args[1]))
	ts.Check(err)
	defer f.Close()
	_, err = f.ReadFrom(storetest.Keystream(n))
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "wrote %d bytes\n", n)
}
