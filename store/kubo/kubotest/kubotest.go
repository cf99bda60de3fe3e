// Package kubotest starts real kubo (ipfs) daemons for tests and benchmark programs: a fresh
// repo with kubo's test profile (API, gateway and swarm on 127.0.0.1, ports picked by the OS,
// no bootstrap peers, no MDNS), telemetry off. The core (Init, Start and the methods) returns
// errors and suits any program; StartT and friends are the testing wrappers.
package kubotest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
)

// ReadyTimeout bounds how long Start waits for a daemon's API to answer. Several daemons
// starting at once on a busy 2-core machine can take a while; the deadline only matters when
// something is wrong.
const ReadyTimeout = 2 * time.Minute

// stopGrace is how long Stop waits after SIGTERM before it kills the daemon.
const stopGrace = 15 * time.Second

// Options says how to set up a repo and run its daemon.
type Options struct {
	// Offline runs the daemon with --offline: no swarm at all. Online repos get Routing.Type
	// none: the daemon finds peers only through Connect, and bitswap asks them directly.
	Offline bool
	// MaxProcs, when positive, is the daemon's GOMAXPROCS (several daemons on a small machine).
	MaxProcs int
}

// Repo is a kubo repository made for tests.
type Repo struct {
	bin, path string
}

// Init creates a repo in dir (empty or absent) with the test profile and an empty store, set up
// as opts says. ctx bounds the ipfs commands it runs.
func Init(ctx context.Context, bin, dir string, opts Options) (*Repo, error) {
	r := &Repo{bin: bin, path: dir}
	if _, err := r.Run(ctx, "init", "--profile=test", "--empty-repo"); err != nil {
		return nil, err
	}
	if !opts.Offline {
		if _, err := r.Run(ctx, "config", "Routing.Type", "none"); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Path is the repo's directory (its IPFS_PATH).
func (r *Repo) Path() string { return r.path }

func (r *Repo) env() []string {
	return append(os.Environ(), "IPFS_PATH="+r.path, "IPFS_TELEMETRY=off", "DO_NOT_TRACK=1")
}

// Command returns `ipfs args...` on this repo, not started.
func (r *Repo) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = r.env()
	return cmd
}

// Run runs `ipfs args...` on this repo and returns its output (stdout and stderr), trimmed of
// surrounding white space. A failure's error includes the output.
func (r *Repo) Run(ctx context.Context, args ...string) (string, error) {
	out, err := r.Command(ctx, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("ipfs %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Daemon is a running kubo daemon on its own Repo.
type Daemon struct {
	*Repo
	api    string
	cmd    *exec.Cmd
	exited chan struct{}
	log    tail
	once   sync.Once
}

// Start creates a repo in dir (see Init) and runs a daemon on it until its API answers. ctx
// bounds the start, not the daemon's life: Stop ends it, and the caller must call Stop once
// Start has succeeded. On failure nothing is left running.
func Start(ctx context.Context, bin, dir string, opts Options) (*Daemon, error) {
	r, err := Init(ctx, bin, dir, opts)
	if err != nil {
		return nil, err
	}
	d := &Daemon{Repo: r, exited: make(chan struct{})}
	args := []string{"daemon"}
	if opts.Offline {
		args = append(args, "--offline")
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = r.env()
	if opts.MaxProcs > 0 {
		d.cmd.Env = append(d.cmd.Env, "GOMAXPROCS="+strconv.Itoa(opts.MaxProcs))
	}
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	d.cmd.WaitDelay = stopGrace // Wait returns even if something else holds the output pipe
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	if err := d.waitReady(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

// waitReady waits for the repo's api file, which the daemon writes once its API listens, and
// then for `ipfs id` to answer through that API.
func (d *Daemon) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	apiFile := filepath.Join(d.path, "api")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		if _, err = os.Stat(apiFile); err == nil {
			if _, err = d.Run(ctx, "id", "-f", "<id>"); err == nil {
				var b []byte
				if b, err = os.ReadFile(apiFile); err == nil {
					d.api = strings.TrimSpace(string(b))
					return nil
				}
			}
		}
		select {
		case <-d.exited:
			return fmt.Errorf("ipfs daemon in %s exited before its API answered:\n%s", d.path, d.Log())
		case <-ctx.Done():
			return fmt.Errorf("ipfs daemon in %s not ready (%v; last: %v):\n%s", d.path, ctx.Err(), err, d.Log())
		case <-tick.C:
		}
	}
}

// APIAddr is the multiaddr of the daemon's RPC API, as in the repo's api file.
func (d *Daemon) APIAddr() string { return d.api }

// SwarmAddr is the daemon's loopback TCP swarm address, with its peer ID.
func (d *Daemon) SwarmAddr(ctx context.Context) (string, error) {
	out, err := d.Run(ctx, "id")
	if err != nil {
		return "", err
	}
	var id struct {
		ID        string
		Addresses []string
	}
	if err := json.Unmarshal([]byte(out), &id); err != nil {
		return "", fmt.Errorf("ipfs id: %w", err)
	}
	for _, a := range id.Addresses {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") {
			if !strings.Contains(a, "/p2p/") {
				a += "/p2p/" + id.ID
			}
			return a, nil
		}
	}
	return "", fmt.Errorf("ipfs daemon in %s has no loopback TCP swarm address among %q", d.path, id.Addresses)
}

// Connect connects d to other over the loopback swarm.
func (d *Daemon) Connect(ctx context.Context, other *Daemon) error {
	a, err := other.SwarmAddr(ctx)
	if err != nil {
		return err
	}
	_, err = d.Run(ctx, "swarm", "connect", a)
	return err
}

// ConnectAll connects every daemon to every other.
func ConnectAll(ctx context.Context, ds ...*Daemon) error {
	for i, d := range ds {
		for _, o := range ds[i+1:] {
			if err := d.Connect(ctx, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// HasBlock reports whether the daemon's repo holds block c, asking offline; a failed question
// counts as no.
func (d *Daemon) HasBlock(ctx context.Context, c cid.Cid) bool {
	return d.Command(ctx, "block", "stat", "--offline", c.String()).Run() == nil
}

// Log is the tail of the daemon's output.
func (d *Daemon) Log() string { return d.log.String() }

// Stop ends the daemon (SIGTERM, then SIGKILL after a grace period) and reaps it. It may be
// called more than once.
func (d *Daemon) Stop() {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(stopGrace):
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
}

// tail keeps the last tailMax bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 64 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailMax; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
