package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

func TestGenerateNetworkFiles(t *testing.T) {
	dir := t.TempDir()
	spec := NetworkSpec{ChainID: "rr-gen", Timing: WANTiming(), Nodes: []HostSpec{
		{Name: "a", Host: "10.0.0.1", P2PPort: 26656, RPCPort: 26657, APIAddr: "10.0.0.1:8080"},
		{Name: "b", Host: "10.0.0.2", P2PPort: 26656, APIAddr: "10.0.0.2:8080"},
	}}
	homes, err := GenerateNetwork(dir, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, home := range homes {
		for _, f := range []string{privValKeyFile, nodeKeyFile, proxyKeyFile} {
			st, err := os.Stat(filepath.Join(home, f))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", f, st.Mode().Perm())
			}
		}
	}
	a, err := ReadSettings(homes[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(a.PersistentPeers) != 1 || a.RPCListen != "tcp://0.0.0.0:26657" || a.Timing != WANTiming() {
		t.Fatalf("settings %+v", a)
	}
	if _, err := LoadProxyKey(homes[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateNetwork(dir, spec); !errors.Is(err, ErrHomeExists) {
		t.Fatalf("regenerating over existing homes: %v", err)
	}
}

// TestSingleNode runs the `init` then `start` path of one real node.
func TestSingleNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "solo")
	id, err := Init(home, "rr-solo", HostSpec{Host: "127.0.0.1", Listen: "127.0.0.1", P2PPort: port, APIAddr: "127.0.0.1:1"}, LoopbackTiming(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Open(home, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
			<-done
		}
	})

	var reg []protocol.Node
	for {
		if _, err := n.RPC().Query(ctx, "/nodes", &reg); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(reg) != 1 || reg[0].ProxyKey != id.ProxyKey || reg[0].Name != "solo" {
		t.Fatalf("registry %+v, identity %+v", reg, id)
	}
	owner := newAcct(t)
	e := &env{t: t, ctx: ctx, nw: &LocalNet{opts: LocalNetOptions{ChainID: "rr-solo"}, nodes: []*Node{n}, homes: []string{home}}}
	// Init writes the default admission rules: a stranger is refused until the operator
	// admits it.
	body := &protocol.Revoke{Grant: protocol.ID{1}}
	e.refused(owner.sign(t, "rr-solo", 0, body), protocol.ErrNotAdmitted)
	if err := n.Admit(ctx, protocol.TierMember, owner.pk); err != nil {
		t.Fatal(err)
	}
	e.putRecord(owner)
	stop()
	stopped = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestBlobSettings: the self tier's upload paces are read from config/node.json under their
// documented names, and a negative value is refused with the setting named.
func TestBlobSettings(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, settingsFile)
	write := func(blobs string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(`{"moniker": "n", "blobs": `+blobs+`}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"self_upload_rate": 1, "self_upload_burst": 2, "self_pool_upload_rate": 3, "self_pool_upload_burst": 4}`)
	s, err := ReadSettings(home)
	if err != nil {
		t.Fatal(err)
	}
	if b := s.Blobs; b.SelfUploadRate != 1 || b.SelfUploadBurst != 2 || b.SelfPoolUploadRate != 3 || b.SelfPoolUploadBurst != 4 {
		t.Fatalf("read %+v", b)
	}
	write(`{"self_pool_upload_rate": -1}`)
	if _, err := ReadSettings(home); err == nil || !strings.Contains(err.Error(), "blobs.self_pool_upload_rate is -1") {
		t.Fatalf("a negative pace: %v", err)
	}
}
