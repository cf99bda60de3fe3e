package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/resilientrecords/resilientrecords/app"
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

It prints a link carrying a fresh secret token; open it in a browser on this machine (--open
does). Requests without the token, from other web sites, or for another host name are
refused. Stop it with Ctrl-C.`,
		Example: `  rrec app -i patient.key --network /tmp/rrnet/network.json --open`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return fmt.Errorf("--listen %q: want HOST:PORT, such as 127.0.0.1:0", listen)
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("--listen %q: the app serves this machine only; give a loopback address such as 127.0.0.1:0", listen)
			}
			id, err := loadIdentity(cf.identity)
			if err != nil {
				return err
			}
			book, err := openContacts()
			if err != nil {
				return err
			}
			ctx, s, stop, err := cf.open(cmd)
			if err != nil {
				return err
			}
			defer stop()
			l, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			a, err := app.New(s, l.Addr(), &app.Options{Identity: id, Contacts: book,
				Logger: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				l.Close()
				return err
			}
			defer a.Close()
			srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(l) }()
			fmt.Fprintf(cmd.OutOrStdout(), "Open this link in a browser on this machine (it is your password for this session):\n\n    %s\n\n", a.URL())
			fmt.Fprintf(cmd.ErrOrStderr(), "identity %s\nserving until Ctrl-C\n", s.Identity())
			if open {
				if err := openBrowser(a.URL()); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "rrec: could not open a browser (%v): open the link yourself\n", err)
				}
			}
			select {
			case err := <-served:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
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
