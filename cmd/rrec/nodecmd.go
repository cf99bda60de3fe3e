package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/node"
)

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Prepare and run ledger nodes for a real deployment",
		Long: `node prepares node homes (keys, settings, genesis) and runs a node from its home.
For a network of several hosts, run 'rrec node generate' once, copy each home to its host,
and run 'rrec node start' there. For a network on one machine, 'rrec devnet' is simpler.`,
		Example: `  rrec node generate --dir ./homes --chain-id clinic-net --hosts a.example,b.example,c.example,d.example
  rrec node start --home ./homes/node0`,
	}
	cmd.AddCommand(newNodeInitCmd(), newNodeGenerateCmd(), newNodeStartCmd(), newNodeAdmitCmd(), newNodeRegisterServiceCmd(), newNodeStatusCmd(), newNodeRejoinCmd())
	return cmd
}

type placement struct {
	p2pPort, apiPort, rpcPort int
	listen, kuboAPI, metrics  string
	wan                       bool
}

func (p *placement) flags(cmd *cobra.Command) {
	cmd.Flags().IntVar(&p.p2pPort, "p2p-port", 26656, "consensus peer-to-peer `PORT`")
	cmd.Flags().IntVar(&p.apiPort, "api-port", 26680, "HTTP API `PORT` (proxy, ledger and blob routes, docs/api.md)")
	cmd.Flags().IntVar(&p.rpcPort, "rpc-port", 0, "CometBFT RPC `PORT` (0: no RPC server)")
	cmd.Flags().StringVar(&p.listen, "listen", "", "listen on `HOST` instead of every interface")
	cmd.Flags().BoolVar(&p.wan, "wan", true, "consensus timing for hosts on separate machines (false: loopback timing)")
	cmd.Flags().StringVar(&p.kuboAPI, "kubo-api", "", "keep blobs in the kubo daemon at `ADDR` (multiaddr, URL or host:port) instead of the embedded store")
	cmd.Flags().StringVar(&p.metrics, "metrics", "", "serve Prometheus metrics on `HOST:PORT` (default: none); keep it on loopback or a monitoring network, metrics show when the node is busy")
}

// check refuses flags that would make a home its node cannot start from, before any is written.
func (p *placement) check() error {
	if _, _, err := net.SplitHostPort(p.metrics); p.metrics != "" && err != nil {
		return fmt.Errorf("--metrics %s: want HOST:PORT", p.metrics)
	}
	return nil
}

// configure writes what the node package's generators leave at their defaults.
func (p *placement) configure(homes []string) error {
	if p.kuboAPI == "" && p.metrics == "" {
		return nil
	}
	for _, h := range homes {
		s, err := node.ReadSettings(h)
		if err != nil {
			return err
		}
		s.Blobs.KuboAPI = p.kuboAPI
		s.Metrics.Listen = p.metrics
		if err := node.WriteSettings(h, s); err != nil {
			return err
		}
	}
	return nil
}

func (p *placement) timing() node.Timing {
	if p.wan {
		return node.WANTiming()
	}
	return node.LoopbackTiming()
}

func (p *placement) host(name, host string) node.HostSpec {
	return node.HostSpec{Name: name, Host: host, P2PPort: p.p2pPort, RPCPort: p.rpcPort,
		APIAddr: net.JoinHostPort(host, strconv.Itoa(p.apiPort)), Listen: p.listen}
}

// hostEntry parses one --hosts entry, [NAME=]HOST[:P2PPORT:APIPORT], the i-th.
func (p *placement) hostEntry(i int, entry string) (node.HostSpec, error) {
	const want = "want HOST, NAME=HOST, or either followed by :P2PPORT:APIPORT"
	name, host, ok := strings.Cut(entry, "=")
	if !ok {
		name, host = fmt.Sprintf("node%d", i), name
	}
	own := *p
	if parts := strings.Split(host, ":"); len(parts) == 3 {
		host = parts[0]
		var err1, err2 error
		own.p2pPort, err1 = strconv.Atoi(parts[1])
		own.apiPort, err2 = strconv.Atoi(parts[2])
		if err1 != nil || err2 != nil || own.p2pPort <= 0 || own.p2pPort > 65535 ||
			own.apiPort <= 0 || own.apiPort > 65535 || own.p2pPort == own.apiPort {
			return node.HostSpec{}, errors.New("ports must be two different numbers 1..65535")
		}
	} else if len(parts) != 1 {
		return node.HostSpec{}, errors.New(want)
	}
	if host == "" || name == "" {
		return node.HostSpec{}, errors.New(want)
	}
	return own.host(name, host), nil
}

func newNodeInitCmd() *cobra.Command {
	var (
		home, chainID, host string
		pl                  placement
		af                  admissionFlags
	)
	cmd := &cobra.Command{
		Use:   "init --home DIR --chain-id ID --host HOST",
		Short: "Prepare the home of a single-node network",
		Long: `init writes a new node home: consensus and proxy keys, settings (config/node.json) and a
genesis in which this node is the only validator. It refuses a home that already has a genesis.`,
		Example: `  rrec node init --home ~/.rrec/node --chain-id solo --host 127.0.0.1 --wan=false`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" || chainID == "" || host == "" {
				return errors.New("node init needs --home DIR, --chain-id ID and --host HOST (the address clients and peers dial)")
			}
			if err := pl.check(); err != nil {
				return err
			}
			adm, err := af.rules()
			if err != nil {
				return err
			}
			id, err := node.Init(home, chainID, pl.host(filepath.Base(home), host), pl.timing(), adm)
			if errors.Is(err, node.ErrHomeExists) {
				return fmt.Errorf("%s already holds a node: start it with 'rrec node start --home %s'", home, home)
			}
			if err != nil {
				return err
			}
			if err := pl.configure([]string{home}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialised %s\nnode id    %s\nproxy key  %s\n", home, id.NodeID, id.ProxyKey)
			return writeGeneratedNetworkFile(filepath.Join(home, "network.json"), []string{home})
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "node home `DIR` to create")
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain `ID` of the new network")
	cmd.Flags().StringVar(&host, "host", "", "`HOST` that peers and clients dial")
	pl.flags(cmd)
	af.flags(cmd)
	return cmd
}

func newNodeGenerateCmd() *cobra.Command {
	var (
		dir, chainID, hosts string
		pl                  placement
		af                  admissionFlags
	)
	cmd := &cobra.Command{
		Use:   "generate --dir DIR --chain-id ID --hosts HOST,HOST,...",
		Short: "Prepare the homes of a multi-host network",
		Long: `generate writes one node home per host under DIR (DIR/NAME) with fresh keys, one genesis
naming every node as a validator and proxy, and every other node as a persistent peer. It
also writes DIR/network.json for clients. Copy each home to its host (keep the keys secret)
and run 'rrec node start --home HOME' there.

Each entry of --hosts is [NAME=]HOST[:P2PPORT:APIPORT]; unnamed nodes are called node0,
node1, ... Nodes without their own ports use --p2p-port and --api-port; give each node its
own ports to run several on one machine. A network of n nodes tolerates f = (n-1)/3 faulty
ones.`,
		Example: `  rrec node generate --dir ./homes --chain-id clinic-net \
      --hosts a=10.0.0.1,b=10.0.0.2,c=10.0.0.3,d=10.0.0.4
  rrec node generate --dir ./local --chain-id test --wan=false --listen 127.0.0.1 \
      --hosts 127.0.0.1:7001:7002,127.0.0.1:7011:7012,127.0.0.1:7021:7022,127.0.0.1:7031:7032`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || chainID == "" || hosts == "" {
				return errors.New("node generate needs --dir DIR, --chain-id ID and --hosts with one HOST per node, comma-separated")
			}
			if err := pl.check(); err != nil {
				return err
			}
			var specs []node.HostSpec
			for i, h := range strings.Split(hosts, ",") {
				spec, err := pl.hostEntry(i, strings.TrimSpace(h))
				if err != nil {
					return fmt.Errorf("--hosts entry %d (%q): %w", i+1, h, err)
				}
				specs = append(specs, spec)
			}
			adm, err := af.rules()
			if err != nil {
				return err
			}
			homes, err := node.GenerateNetwork(dir, node.NetworkSpec{ChainID: chainID, Nodes: specs, Timing: pl.timing(), Admission: adm})
			if err != nil {
				return err
			}
			if err := pl.configure(homes); err != nil {
				return err
			}
			for _, h := range homes {
				fmt.Fprintln(cmd.OutOrStdout(), h)
			}
			return writeGeneratedNetworkFile(filepath.Join(dir, "network.json"), homes)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "write the homes under `DIR`")
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain `ID` of the new network")
	cmd.Flags().StringVar(&hosts, "hosts", "", "comma-separated `LIST` of [NAME=]HOST[:P2PPORT:APIPORT], one per node")
	pl.flags(cmd)
	af.flags(cmd)
	return cmd
}

func newNodeStartCmd() *cobra.Command {
	var (
		home    string
		verbose int
	)
	cmd := &cobra.Command{
		Use:   "start --home DIR",
		Short: "Run a node from its home until interrupted",
		Long: `start runs the node prepared by 'rrec node init' or 'rrec node generate': consensus, the
ledger, the re-encryption proxy, the blob service and the HTTP API. It prints one line once
the node is running; SIGINT or SIGTERM stop it cleanly.`,
		Example: `  rrec node start --home ./homes/node0 -v`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if home == "" {
				return errors.New("node start needs --home DIR (prepare one with 'rrec node init' or 'rrec node generate')")
			}
			level := slog.LevelWarn
			switch {
			case verbose == 1:
				level = slog.LevelInfo
			case verbose > 1:
				level = slog.LevelDebug
			}
			lg := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			n, err := node.Open(home, node.Options{Logger: lg})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := n.Start(); err != nil {
				_ = n.Stop()
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "running %s, API on %s\n", n.Settings().Moniker, n.Settings().APIAddr)
			<-ctx.Done()
			return n.Stop()
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "node home `DIR`")
	cmd.Flags().CountVarP(&verbose, "verbose", "v", "log more (-vv: consensus detail too)")
	return cmd
}

// writeGeneratedNetworkFile writes network.json for homes that are not running yet.
func writeGeneratedNetworkFile(path string, homes []string) error {
	nw, err := node.NetworkFile(homes[0])
	if err != nil {
		return err
	}
	return node.WriteNetworkFile(path, nw)
}
