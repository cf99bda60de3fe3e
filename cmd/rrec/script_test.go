package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/resilientrecords/resilientrecords/internal/liar"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
	"github.com/resilientrecords/resilientrecords/store/storetest"
)

// TestMain lets the scripts run this test binary as the rrec command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"rrec": main})
}

// TestScripts runs every testdata/*.txtar script against the rrec command.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:       "testdata",
		Setup:     passFHIRExamples,
		Condition: fhirExamples,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"keystream": cmdKeystream,
			"waitfile":  cmdWaitfile,
			"filemode":  cmdFilemode,
			"envfile":   cmdEnvfile,
			"freeport":  cmdFreeport,
			"waitapi":   cmdWaitapi,
			"sleep":     cmdSleep,
			"liar":      cmdLiar,
			"points":    cmdPoints,
			"entries":   cmdEntries,
		},
	})
}

// passFHIRExamples hands the scripts RREC_FHIR_R4_EXAMPLES, the unpacked npm package
// hl7.fhir.r4.examples@4.0.1 that 'make test' installs: the walk-through of docs/fhir.md
// puts its discharge summary.
func passFHIRExamples(env *testscript.Env) error {
	env.Setenv("RREC_FHIR_R4_EXAMPLES", os.Getenv("RREC_FHIR_R4_EXAMPLES"))
	return nil
}

// fhirExamples is the condition [fhirexamples]: the official FHIR R4 examples are at hand.
// Under CI they must be.
func fhirExamples(cond string) (bool, error) {
	if cond != "fhirexamples" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	dir := os.Getenv("RREC_FHIR_R4_EXAMPLES")
	if _, err := os.Stat(filepath.Join(dir, "Bundle-father.json")); dir == "" || err != nil {
		if os.Getenv("CI") != "" {
			return false, errors.New("RREC_FHIR_R4_EXAMPLES does not name the official FHIR R4 examples: 'make test' installs them")
		}
		return false, nil
	}
	return true, nil
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

// cmdWaitfile waits until a file exists (a background command wrote it), failing after the
// timeout (default 2m):
//
//	waitfile FILE [TIMEOUT]
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [TIMEOUT]")
	}
	timeout := 2 * time.Minute
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
	path := ts.MkAbs(args[0])
	for end := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(end) {
			ts.Fatalf("waitfile: %s did not appear within %s", args[0], timeout)
		}
	}
}

// cmdFilemode checks a file's permission bits:
//
//	filemode FILE 0600
func cmdFilemode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: filemode FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); (uint64(got) == want) == neg {
		ts.Fatalf("%s has mode %#o, want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// cmdEnvfile sets an environment variable to a file's content without surrounding space, so
// that a script can use what a command printed (cp stdout FILE first):
//
//	envfile NAME FILE
func cmdEnvfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile NAME FILE")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
}

// cmdFreeport sets each named environment variable to a port the OS says is free on
// 127.0.0.1, for commands whose ports are flags:
//
//	freeport NAME...
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeport NAME...")
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, name := range args {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ls = append(ls, l) // held until all are picked, so that they differ
		ts.Setenv(name, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
}

// cmdWaitapi waits until every node of a network.json answers GET /v1/status with a
// committed height, failing after the timeout (default 1m):
//
//	waitapi NETWORK_JSON [TIMEOUT]
func cmdWaitapi(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitapi NETWORK_JSON [TIMEOUT]")
	}
	timeout := time.Minute
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		timeout = d
	}
	nw, err := protocol.LoadNetwork(ts.MkAbs(args[0]))
	ts.Check(err)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, n := range nw.Nodes {
		for {
			if nodeUp(ctx, n.API) {
				break
			}
			select {
			case <-ctx.Done():
				ts.Fatalf("waitapi: %s did not come up within %s", n.Name, timeout)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func nodeUp(ctx context.Context, api string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/status", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var st struct{ Height int64 }
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&st) == nil && st.Height > 0
}

// cmdSleep waits, for scripts that need time to pass (grant expiry):
//
//	sleep DURATION
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// cmdLiar starts a lying node in front of node NODE of the devnet in DIR (internal/liar: a
// proxy that rewrites the node's answers and signs them with the node's own key) and writes
// OUT, a copy of DIR/network.json that names the liar in the node's place. It lies until the
// script ends:
//
//	liar DIR NODE OUT LIE...
func cmdLiar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 {
		ts.Fatalf("usage: liar DIR NODE OUT LIE... (lies: %v)", liar.All)
	}
	dir, name, out := ts.MkAbs(args[0]), args[1], ts.MkAbs(args[2])
	nw, err := protocol.LoadNetwork(filepath.Join(dir, "network.json"))
	ts.Check(err)
	var homes []string
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(filepath.Join(dir, "devnet-homes.json"))), &homes))
	i := slices.IndexFunc(homes, func(h string) bool { return filepath.Base(h) == name })
	j := slices.IndexFunc(nw.Nodes, func(n protocol.Node) bool { return n.Name == name })
	if i < 0 || j < 0 {
		ts.Fatalf("liar: no node %s in %s", name, dir)
	}
	sk, err := node.LoadProxyKey(filepath.Join(dir, homes[i]))
	ts.Check(err)
	l, err := liar.New(nw.Nodes[j].API, sk, nw.ChainID)
	ts.Check(err)
	ts.Defer(func() { l.Close() })
	var lies []liar.Lie
	for _, a := range args[3:] {
		if !slices.Contains(liar.All, liar.Lie(a)) {
			ts.Fatalf("liar: no lie %q (lies: %v)", a, liar.All)
		}
		lies = append(lies, liar.Lie(a))
	}
	l.Tell(lies...)
	nw.Nodes[j].API = l.URL()
	ts.Check(node.WriteNetworkFile(out, nw))
}

// cmdPoints writes a phone's day of location points, one a second from midnight UTC of DAY,
// as JSON lines with an RFC 3339 "time" (what 'rrec stream append' stamps entries with):
//
//	points DAY FILE
func cmdPoints(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: points DAY FILE")
	}
	day, err := time.Parse(time.DateOnly, args[0])
	ts.Check(err)
	f, err := os.Create(ts.MkAbs(args[1]))
	ts.Check(err)
	defer f.Close()
	w := bufio.NewWriter(f)
	for i := range 86400 {
		t := day.Add(time.Duration(i) * time.Second)
		// A walk around a city centre: the coordinates move a little every second.
		fmt.Fprintf(w, "{\"time\":%q,\"lat\":%.6f,\"lon\":%.6f}\n", t.Format(time.RFC3339), 52.37+float64(i%600)*1e-5, 4.89+float64(i/600)*1e-5)
	}
	ts.Check(w.Flush())
}

// cmdEntries checks a file of JSON lines: how many, and the "time" of the first and last:
//
//	entries FILE COUNT FIRST LAST
func cmdEntries(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: entries FILE COUNT FIRST LAST")
	}
	lines := strings.Split(strings.TrimSuffix(ts.ReadFile(args[0]), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	if strconv.Itoa(len(lines)) != args[1] {
		ts.Fatalf("%s has %d lines, want %s", args[0], len(lines), args[1])
	}
	if len(lines) == 0 {
		return
	}
	timeOf := func(line string) string {
		var v struct{ Time string }
		ts.Check(json.Unmarshal([]byte(line), &v))
		return v.Time
	}
	if got := timeOf(lines[0]); got != args[2] {
		ts.Fatalf("first entry at %s, want %s", got, args[2])
	}
	if got := timeOf(lines[len(lines)-1]); got != args[3] {
		ts.Fatalf("last entry at %s, want %s", got, args[3])
	}
}
