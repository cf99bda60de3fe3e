package kubo

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// maxAddrLen bounds the address text we parse; kubo's api file holds one short multiaddr.
const maxAddrLen = 512

// ParseAPIAddr turns a kubo API address into the base URL of its RPC API. It accepts what kubo
// writes to $IPFS_PATH/api (a multiaddr such as /ip4/127.0.0.1/tcp/5001, optionally ending in
// /http), an http:// or https:// URL, or a bare host:port.
func ParseAPIAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty API address")
	}
	if len(s) > maxAddrLen {
		return "", fmt.Errorf("API address longer than %d bytes", maxAddrLen)
	}
	switch {
	case strings.HasPrefix(s, "/"):
		return parseMultiaddr(s)
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("API address %q: %w", s, err)
		}
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return "", fmt.Errorf("API address %q: want scheme://host:port only", s)
		}
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return "", fmt.Errorf("API address %q: %w", s, err)
		}
		return u.Scheme + "://" + u.Host, nil
	default:
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return "", fmt.Errorf("API address %q: %w", s, err)
		}
		if err := checkHostPort(host, port); err != nil {
			return "", fmt.Errorf("API address %q: %w", s, err)
		}
		return "http://" + net.JoinHostPort(host, port), nil
	}
}

// parseMultiaddr handles the /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT[/http] forms kubo uses for
// its API; anything else (unix sockets, TLS, p2p) is refused rather than guessed at.
func parseMultiaddr(s string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(s, "/"), "/")
	if len(parts) == 5 && parts[4] == "http" {
		parts = parts[:4]
	}
	if len(parts) != 4 || parts[2] != "tcp" {
		return "", fmt.Errorf("API multiaddr %q: want /ip4|ip6|dns|dns4|dns6/HOST/tcp/PORT", s)
	}
	host, port := parts[1], parts[3]
	switch parts[0] {
	case "ip4":
		if ip := net.ParseIP(host); ip == nil || ip.To4() == nil {
			return "", fmt.Errorf("API multiaddr %q: bad IPv4 address", s)
		}
	case "ip6":
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil {
			return "", fmt.Errorf("API multiaddr %q: bad IPv6 address", s)
		}
	case "dns", "dns4", "dns6":
	default:
		return "", fmt.Errorf("API multiaddr %q: unsupported protocol %q", s, parts[0])
	}
	if err := checkHostPort(host, port); err != nil {
		return "", fmt.Errorf("API multiaddr %q: %w", s, err)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func checkHostPort(host, port string) error {
	if host == "" || strings.ContainsAny(host, "/?#@ \t") {
		return fmt.Errorf("bad host %q", host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}
