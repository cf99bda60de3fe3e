package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/store/kubo"
)

// ipfsBin is the kubo binary `make test` builds and names in RREC_IPFS.
func ipfsBin(t *testing.T) string {
	bin := os.Getenv("RREC_IPFS")
	if bin == "" {
		msg := "RREC_IPFS is not set: run `make test`, which builds kubo and sets it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// kuboDaemon is a kubo daemon on a fresh repo, loopback only, with routing
// off: it finds peers only through explicit swarm connects.
type kuboDaemon struct {
	bin, repo string
}

func (d *kuboDaemon) run(args ...string) (string, error) {
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "IPFS_PATH="+d.repo, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", &kuboErr{strings.Join(args, " "), err, string(out)}
	}
	return string(out), nil
}

type kuboErr struct {
	cmd string
	err error
	out string
}

func (e *kuboErr) Error() string { return "ipfs " + e.cmd + ": " + e.err.Error() + "\n" + e.out }

// startKubo starts a daemon and waits until its API answers. It is
// stopped (SIGTERM, then kill) when the test ends.
func startKubo(t *testing.T, bin string) (*kuboDaemon, error) {
	d := &kuboDaemon{bin: bin, repo: t.TempDir()}
	if _, err := d.run("init", "--profile=test", "--empty-repo"); err != nil {
		return nil, err
	}
	if _, err := d.run("config", "Routing.Type", "none"); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "daemon.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(d.bin, "daemon")
	cmd.Env = append(os.Environ(), "IPFS_PATH="+d.repo, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1", "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if s, err := kubo.NewFromRepo(d.repo, nil); err == nil {
			_, err := s.List(context.Background())
			s.Close()
			if err == nil {
				return d, nil
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logf.Name())
			return nil, &kuboErr{"daemon", os.ErrProcessDone, string(b)}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, &kuboErr{"daemon", os.ErrDeadlineExceeded, "not ready after 60s"}
		}
	}
}

func (d *kuboDaemon) apiAddr() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.repo, "api"))
	return strings.TrimSpace(string(b)), err
}

func (d *kuboDaemon) swarmAddr() (string, error) {
	id, err := d.run("id", "-f", "<id>")
	if err != nil {
		return "", err
	}
	addrs, err := d.run("id", "-f", "<addrs>")
	if err != nil {
		return "", err
	}
	for _, a := range strings.Fields(addrs) {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			if !strings.Contains(a, "/p2p/") {
				a += "/p2p/" + strings.TrimSpace(id)
			}
			return a, nil
		}
	}
	return "", &kuboErr{"id", os.ErrNotExist, "no loopback swarm address in " + addrs}
}

// useKubo gives every node of nw its own kubo daemon, the daemons
// connected to each other, and restarts the network on them.
func useKubo(t *testing.T, ctx context.Context, nw *node.Network) {
	bin := ipfsBin(t)
	ds := make([]*kuboDaemon, nw.Size())
	errs := make([]error, nw.Size())
	var wg sync.WaitGroup
	for i := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); ds[i], errs[i] = startKubo(t, bin) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(ds); i++ {
		for j := 0; j < i; j++ {
			a, err := ds[j].swarmAddr()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ds[i].run("swarm", "connect", a); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := nw.Stop(); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		s, err := node.ReadSettings(nw.Homes()[i])
		if err != nil {
			t.Fatal(err)
		}
		if s.Blobs.KuboAPI, err = d.apiAddr(); err != nil {
			t.Fatal(err)
		}
		if err := node.WriteSettings(nw.Homes()[i], s); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range ds {
		if _, ok := nw.Node(i).BlobStore().(*kubo.Store); !ok {
			t.Fatalf("node %d does not keep blobs in its kubo daemon", i)
		}
	}
}

func TestStoryKubo(t *testing.T) {
	ipfsBin(t)
	w := startWorld(t)
	useKubo(t, w.ctx, w.nw)
	alice, bob := w.session(newIdentity(t)), w.session(newIdentity(t))
	w.t = t
	w.story(alice, bob, 3)
}
