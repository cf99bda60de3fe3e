package app

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/client"
	"github.com/resilientrecords/resilientrecords/protocol"
)

// nodeView is one node of the network as the Network page shows it.
type nodeView struct {
	Name   string     `json:"name"`
	API    string     `json:"api"`
	Up     bool       `json:"up"`
	Height int64      `json:"height,omitempty"`
	Time   *time.Time `json:"time,omitempty"`
	Why    string     `json:"why,omitempty"` // why it counts as down
}

// network asks every node of network.json for its signed status, as 'rrec status' does.
func (a *App) network(w http.ResponseWriter, r *http.Request) {
	nw := a.s.Network()
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out := make([]nodeView, len(nw.Nodes))
	var wg sync.WaitGroup
	for i, n := range nw.Nodes {
		wg.Go(func() {
			out[i] = nodeView{Name: n.Name, API: n.API}
			st, err := (&client.API{}).NodeStatus(ctx, n.URL())
			switch {
			case err != nil:
				out[i].Why = "does not answer"
			case st.ChainID != nw.ChainID:
				out[i].Why = "serves another network"
			case st.ProxyKey != n.ProxyKey || !st.Verify():
				out[i].Why = "answers without its signature"
			default:
				t := nanoTime(st.Time)
				out[i].Up, out[i].Height, out[i].Time = true, st.Height, &t
			}
		})
	}
	wg.Wait()
	up := 0
	for _, n := range out {
		if n.Up {
			up++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"chain": nw.ChainID, "nodes": out, "up": up, "tolerates": nw.F(),
		// A record opens while enough nodes answer: a grant needs N − f of the N nodes.
		"needed": protocol.DefaultThreshold(len(nw.Nodes), len(nw.Nodes)),
	})
}
