package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/app"
	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/identity"
	"github.com/resilientrecords/resilientrecords/protocol"
)

func newAppCmd() *cobra.Command {
	var (
		cf     clientFlags
		listen string
		open   bool
	)
	cmd := &cobra.Command{
		Use:   "app [-i IDENTITY] [--network FILE] [--listen 127.0.0.1:0] [--open]",
		Short: "Serve the app: your records, shares and their history in a web browser on this machine",
		Long: `app serves a web app on this machine only, for the identity given: upload and list your
records, share them and withdraw shares, see who read each record and why, erase; open what
others shared with you; keep your contacts (the book 'rrec contacts' keeps). Your keys stay
in this process: the page never sees them.

Without an identity (no -i, no $RREC_IDENTITY) the page starts with a welcome: create a new
identity, sealed under a passphrase you type there and written to rrec/identity.key under
your configuration directory (never over an existing file), then save a backup copy; or
open an identity file you already have, with its passphrase. With -i, a protected file's
passphrase is asked on the terminal, as for every command.

It prints a link carrying a fresh secret token; open it in a browser on this machine (--open
does). Requests without the token, from other web sites, or for another host name are
refused. Stop it with Ctrl-C.`,
		Example: `  rrec app -i patient.key --network /tmp/rrnet/network.json --open
  rrec app --network /tmp/rrnet/network.json --open    # create or open an identity in the page`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: want HOST:PORT, such as 127.0.0.1:0", listen)
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("--listen %q: the app serves this machine only; give a loopback address such as 127.0.0.1:0", listen)
			}
			nw, err := appNetwork(cf.network)
			if err != nil {
				return err
			}
			book, err := openContacts()
			if err != nil {
				return err
			}
			opts := &app.Options{Contacts: book,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
			// The session, once there is one: made now for -i, or when the page creates or
			// opens an identity (the welcome state).
			var session atomic.Pointer[client.Session]
			startSession := func(id *identity.Identity) (*client.Session, error) {
				s, err := client.New(nw, id, nil)
				if err != nil {
					return nil, err
				}
				session.Store(s)
				fmt.Fprintf(cmd.ErrOrStderr(), "identity %s\n", s.Identity())
				return s, nil
			}
			var s *client.Session
			if path := cmp.Or(cf.identity, os.Getenv("RREC_IDENTITY")); path != "" {
				// A protected file's passphrase is asked on the terminal, as every command does.
				id, err := loadIdentity(path)
				if err != nil {
					return err
				}
				if s, err = startSession(id); err != nil {
					return err
				}
				opts.Identity = id
			} else {
				dir, err := os.UserConfigDir()
				if err != nil {
					return fmt.Errorf("no identity: pass -i FILE or set RREC_IDENTITY (there is no configuration directory to keep a new one in: %v)", err)
				}
				opts.OpenSession, opts.IdentityDir = startSession, filepath.Join(dir, "rrec")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer func() {
				stop()
				if s := session.Load(); s != nil {
					warnLies(cmd.ErrOrStderr(), s.Lies())
				}
			}()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			a, err := app.New(s, l.Addr(), opts)
			if err != nil {
				l.Close()
				return err
			}
			defer a.Close()
			srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			fmt.Fprintf(cmd.OutOrStdout(), "Open this link in a browser on this machine (it is your password for this session):\n\n    %s\n\n", a.URL())
			if s == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "no identity yet: create one or open your identity file in the page (a new one is written in %s)\n", opts.IdentityDir)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "serving until Ctrl-C")
			if open {
				if err := openBrowser(a.URL()); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "rrec: could not open a browser (%v): open the link yourself\n", err)
				}
			}
			return untilDone(ctx, srv, served)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "serve on this loopback `ADDRESS` (port 0: any free port)")
	cmd.Flags().BoolVar(&open, "open", false, "open the link in the default browser")
	return cmd
}

// openBrowser hands url to the desktop's opener. The token travels in argv, visible to
// this user's other processes, which can read the app's output anyway.
func openBrowser(url string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", url)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		c = exec.Command("xdg-open", url)
	}
	if err := c.Start(); err != nil {
		return err
	}
	go c.Wait()
	return nil
}

// appNetwork loads the network description: the app needs it before it has an identity.
func appNetwork(flag string) (*protocol.Network, error) {
	path := cmp.Or(flag, os.Getenv("RREC_NETWORK"))
	if path == "" {
		return nil, errors.New("no network: pass --network FILE or set RREC_NETWORK (a local network: 'rrec devnet --dir DIR' writes DIR/network.json)")
	}
	nw, err := protocol.LoadNetwork(path)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", path, err)
	}
	return nw, nil
}
