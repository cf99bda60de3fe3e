package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandTeaches walks the whole command tree, so that a command added later cannot
// ship without the --help the scripts check for the older ones: a one-line summary, a longer
// text that says what it does, and an example.
func TestEveryCommandTeaches(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			walk(sub)
		}
		if c.Hidden {
			return
		}
		name := c.CommandPath()
		if strings.TrimSpace(c.Short) == "" {
			t.Errorf("%s: no one-line summary", name)
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no example in --help", name)
		}
		if len(strings.TrimSpace(c.Long)) < len(c.Short) {
			t.Errorf("%s: --help says no more than its summary", name)
		}
	}
	walk(newRootCmd())
}
