package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/internal/atomicfile"
	"github.com/resilientrecords/resilientrecords/node"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// devnetState lists the node homes of a devnet so that a second run resumes the same chain
// instead of starting a new one.
const devnetState = "devnet-homes.json"

func newDevnetCmd() *cobra.Command {
	var (
		dir     string
		nodes   int
		verbose int
	)
	cmd := &cobra.Command{
		Use:   "devnet --dir DIR [--nodes 4]",
		Short: "Run a local network of ledger nodes with embedded stores",
		Long: `devnet runs a network of validator nodes in this process on 127.0.0.1, each with its
own home, fragment vault and embedded block store under DIR. Once the network has committed
its first block it writes DIR/network.json (chain id and node endpoints, what the client
commands take with --network) and prints "ready" on standard output. The file is removed
when the network stops.

It serves until interrupted (SIGINT or SIGTERM) and then stops every node cleanly. Run it
again with the same DIR to resume the same chain; ports are then reused from the homes.

Logs go to DIR/devnet.log; -v shows them on standard error too (-vv: consensus detail).`,
		Example: `  rrec devnet --dir /tmp/rrnet &
  export RREC_NETWORK=/tmp/rrnet/network.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errors.New("devnet needs --dir DIR: the directory that keeps the network's homes")
			}
			if nodes < 1 || nodes > 16 {
				return fmt.Errorf("--nodes %d: a devnet has between 1 and 16 nodes", nodes)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			logFile, err := os.OpenFile(filepath.Join(dir, "devnet.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			defer logFile.Close()
			errLevel := new(slog.LevelVar)
			lg := devnetLogger(cmd.ErrOrStderr(), logFile, verbose, errLevel)
			// A network.json left by an earlier run would tell waiting scripts "ready" too soon.
			netFile := filepath.Join(dir, "network.json")
			if err := os.Remove(netFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			net, err := startDevnet(ctx, dir, nodes, lg)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("nodes") && len(net.nodes) != nodes {
				fmt.Fprintf(cmd.ErrOrStderr(), "rrec: resumed the %d-node network in %s; --nodes applies to new networks only\n", len(net.nodes), dir)
			}
			defer func() {
				if err := net.stop(); err != nil {
					lg.Error("devnet: stopping", "err", err)
				}
			}()
			desc, err := net.describe()
			if err != nil {
				return err
			}
			if err := node.WriteNetworkFile(netFile, desc); err != nil {
				return err
			}
			lg.Info("devnet ready", "dir", dir, "nodes", len(net.nodes), "chain_id", net.chainID)
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			<-ctx.Done()
			lg.Info("devnet stopping")
			// network.json exists exactly while the network serves.
			return os.Remove(netFile)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "keep the network under `DIR` (created, or resumed if it holds one)")
	cmd.Flags().IntVar(&nodes, "nodes", 4, "number of validator `N`odes of a new network")
	cmd.Flags().CountVarP(&verbose, "verbose", "v", "log to standard error too (-vv: consensus detail)")
	return cmd
}

// devnetLogger writes info and above to the log file, and to stderr nothing unless -v: a
// devnet's terminal stays quiet (CometBFT reports routine peer churn as errors).
func devnetLogger(stderr, file io.Writer, verbose int, errLevel *slog.LevelVar) *slog.Logger {
	errLevel.Set(slog.LevelError + 100)
	fileLevel := slog.LevelInfo
	switch {
	case verbose == 1:
		errLevel.Set(slog.LevelInfo)
	case verbose > 1:
		errLevel.Set(slog.LevelDebug)
		fileLevel = slog.LevelDebug
	}
	return slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: errLevel}),
		slog.NewTextHandler(file, &slog.HandlerOptions{Level: fileLevel}),
	))
}

// devnet is a running local network, fresh (node.Network) or resumed (nodes opened from homes).
type devnet struct {
	chainID  string
	nodes    []*node.Node
	stop     func() error
	describe func() (*protocol.Network, error) // what network.json says
}

func startDevnet(ctx context.Context, dir string, n int, lg *slog.Logger) (*devnet, error) {
	statePath := filepath.Join(dir, devnetState)
	if b, err := os.ReadFile(statePath); err == nil {
		var homes []string
		if err := json.Unmarshal(b, &homes); err != nil || len(homes) == 0 {
			return nil, fmt.Errorf("%s is damaged (%v): remove %s to start a new network", statePath, err, dir)
		}
		for i, h := range homes {
			if filepath.IsAbs(h) || !filepath.IsLocal(h) {
				return nil, fmt.Errorf("%s is damaged (home %q is not inside %s): remove %s to start a new network", statePath, h, dir, dir)
			}
			homes[i] = filepath.Join(dir, h)
		}
		lg.Info("devnet: resuming", "homes", len(homes))
		return resumeDevnet(ctx, homes, lg)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	nw, err := node.StartLocalNet(ctx, dir, node.LocalNetOptions{Validators: n, Logger: lg, Admission: &node.LocalAdmission})
	if err != nil {
		return nil, fmt.Errorf("devnet: start: %w", err)
	}
	// Homes are kept relative to dir, so that the directory can be moved or named another way.
	var rel []string
	for _, h := range nw.Homes() {
		r, err := filepath.Rel(dir, h)
		if err != nil {
			_ = nw.Stop()
			return nil, err
		}
		rel = append(rel, r)
	}
	b, _ := json.Marshal(rel)
	if err := atomicfile.WriteFile(statePath, b, 0o600); err != nil {
		_ = nw.Stop()
		return nil, err
	}
	return &devnet{chainID: nw.ChainID(), nodes: nw.Running(), stop: nw.Stop,
		describe: nw.Description}, nil
}

// startResumed opens and starts the node of home. A resumed node must listen on the ports
// its home names, and while the network was down another program's passing connection may
// have taken one: it tries again for up to 30 s before giving up on a port still in use.
func startResumed(ctx context.Context, home string, lg *slog.Logger) (*node.Node, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := node.Open(home, node.Options{Logger: lg})
		if err != nil {
			return nil, err
		}
		err = n.Start() // a failed start stops the node again
		if err == nil {
			return n, nil
		}
		if !strings.Contains(err.Error(), "address already in use") || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// resumeDevnet opens every home again and waits until the chain makes a new block, so that
// "ready" means the nodes found each other.
func resumeDevnet(ctx context.Context, homes []string, lg *slog.Logger) (*devnet, error) {
	d := &devnet{}
	d.describe = func() (*protocol.Network, error) { return node.NetworkFile(homes[0]) }
	d.stop = func() error {
		var errs []error
		for _, n := range d.nodes {
			errs = append(errs, n.Stop())
		}
		return errors.Join(errs...)
	}
	var start int64
	for _, home := range homes {
		n, err := startResumed(ctx, home, lg)
		if err != nil {
			_ = d.stop()
			return nil, fmt.Errorf("devnet: resume %s: %w", home, err)
		}
		d.nodes = append(d.nodes, n)
		start = max(start, n.Height())
	}
	d.chainID = d.nodes[0].App().ChainID()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		lowest := d.nodes[0].Height()
		for _, n := range d.nodes[1:] {
			lowest = min(lowest, n.Height())
		}
		if lowest > start {
			return d, nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			_ = d.stop()
			return nil, fmt.Errorf("devnet: waiting for the resumed nodes to make a block: %w", ctx.Err())
		}
	}
}
