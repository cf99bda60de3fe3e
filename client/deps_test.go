package client

import (
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var updateDeps = flag.Bool("update-deps", false, "rewrite testdata/deps.txt with the SDK's current dependencies")

// serverSide lists what an SDK must never link: a consensus engine, a database, a block
// store. A patient's app or a provider's integration carries the client, not a node.
var serverSide = []string{
	"github.com/cometbft/",
	"github.com/syndtr/goleveldb",
	"github.com/cockroachdb/pebble",
	"github.com/ipfs/go-ds-flatfs",
	"github.com/ipfs/go-datastore",
	"github.com/ipfs/boxo/",
	"google.golang.org/grpc",
	"github.com/prometheus/",
	"github.com/resilientrecords/resilientrecords/node",
	"github.com/resilientrecords/resilientrecords/ledger",
	"github.com/resilientrecords/resilientrecords/proxy",
	"github.com/resilientrecords/resilientrecords/blobs",
	"github.com/resilientrecords/resilientrecords/store/local",
	"github.com/resilientrecords/resilientrecords/store/kubo",
}

// TestDependencies keeps the SDK lean, in the spirit of Tailscale's depaware: it fails when
// the client links anything of the server side, and when its list of non-standard
// packages (testdata/deps.txt, committed) changes without being rewritten on purpose with
// -update-deps, so that a new dependency is a visible change in review.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	got := strings.TrimSpace(string(out)) + "\n"
	for _, p := range strings.Fields(got) {
		for _, bad := range serverSide {
			if strings.HasPrefix(p, bad) {
				t.Errorf("the client links %s (server side: %s)", p, bad)
			}
		}
	}
	const path = "testdata/deps.txt"
	if *updateDeps {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the client's dependencies changed; if that is intended, run 'go test ./client -run TestDependencies -update-deps' and review the diff of %s.\nnow:\n%s", path, got)
	}
}
