package umbral_test

// The oracle: the reference implementation (npm @nucypher/umbral-pre@0.10.0) in a Node.js
// process that answers one JSON line per request (testdata/oracle/oracle.js).

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// answer is the union of the oracle's answer fields (see oracle.js).
type answer struct {
	ID     int        `json:"id"`
	OK     bool       `json:"ok"`
	Error  string     `json:"error"`
	Valid  bool       `json:"valid"`
	KFrags []hexBytes `json:"kfrags"`

	SK, PK, Secret, Capsule, Simple, CT, PT, KFrag, CFrag, Sig, DER hexBytes
}

// oracle is one running oracle.js process.
type oracle struct {
	stdin  *bufio.Writer
	out    *bufio.Reader
	nextID int
}

// oracleDir finds the installed oracle: RREC_UMBRAL_ORACLE (set by the
// Makefile), else ./testdata/oracle when its node_modules exist.
func oracleDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RREC_UMBRAL_ORACLE")
	if dir == "" {
		dir = filepath.Join("testdata", "oracle")
	}
	_, errMod := os.Stat(filepath.Join(dir, "node_modules", "@nucypher", "umbral-pre", "package.json"))
	_, errNode := exec.LookPath("node")
	if errMod != nil || errNode != nil {
		msg := fmt.Sprintf("reference Umbral oracle not available (dir %q: %v; node: %v); run make test", dir, errMod, errNode)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dir
}

func startOracle(t *testing.T) *oracle {
	t.Helper()
	dir := oracleDir(t)
	cmd := exec.Command("node", "oracle.js")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the oracle: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close() // oracle.js exits when stdin closes
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return &oracle{stdin: bufio.NewWriter(stdin), out: bufio.NewReaderSize(stdout, 1<<20)}
}

// try sends one request; it returns the answer, or the reference's error
// message when the reference refused.
func (o *oracle) try(t *testing.T, cmd string, args map[string]any) (*answer, string) {
	t.Helper()
	o.nextID++
	req := map[string]any{"id": o.nextID, "cmd": cmd}
	for k, v := range args {
		if h, ok := v.(hexBytes); ok {
			v = []byte(h)
		}
		switch v := v.(type) {
		case []byte:
			req[k] = hex.EncodeToString(v)
		case [][]byte:
			list := make([]string, len(v))
			for i, b := range v {
				list[i] = hex.EncodeToString(b)
			}
			req[k] = list
		default:
			req[k] = v
		}
	}
	line, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.stdin.Write(append(line, '\n'))
	if err == nil {
		err = o.stdin.Flush()
	}
	if err != nil {
		t.Fatalf("oracle %s: write: %v", cmd, err)
	}
	reply, err := o.out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("oracle %s: read: %v", cmd, err)
	}
	var ans answer
	if err := json.Unmarshal(reply, &ans); err != nil {
		t.Fatalf("oracle %s: bad answer %.200q: %v", cmd, reply, err)
	}
	if ans.ID != o.nextID {
		t.Fatalf("oracle %s: answer id %d, want %d", cmd, ans.ID, o.nextID)
	}
	if !ans.OK {
		return nil, ans.Error
	}
	return &ans, ""
}

// call is try for requests the reference must accept.
func (o *oracle) call(t *testing.T, cmd string, args map[string]any) *answer {
	t.Helper()
	ans, refErr := o.try(t, cmd, args)
	if ans == nil {
		t.Fatalf("reference %s refused: %s", cmd, refErr)
	}
	return ans
}

// mustReject is try for requests the reference must refuse.
func (o *oracle) mustReject(t *testing.T, cmd string, args map[string]any) {
	t.Helper()
	if ans, _ := o.try(t, cmd, args); ans != nil {
		t.Fatalf("reference %s accepted tampered input", cmd)
	}
}
