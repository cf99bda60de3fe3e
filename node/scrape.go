package node

import (
	"context"
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scraped is one scrape of a node's metrics listener, by metric family name.
type Scraped map[string]*dto.MetricFamily

// ScrapeMetrics reads what the metrics listener at addr (host:port) serves, as `rrec node
// status` and the tests do; client is nil for http.DefaultClient.
func ScrapeMetrics(ctx context.Context, client *http.Client, addr string) (Scraped, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+metricsPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain") // the text format, whatever the server prefers
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("node: metrics at %s: HTTP %d", addr, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("node: metrics at %s: %w", addr, err)
	}
	return Scraped(fams), nil
}

// Has reports whether the scrape holds the metric name.
func (s Scraped) Has(name string) bool { return s[name] != nil }

// Sum adds up the samples of counter or gauge name whose labels include every pair of
// labels (name, value, name, value…); 0 if there are none.
func (s Scraped) Sum(name string, labels ...string) float64 {
	var total float64
	for _, m := range s[name].GetMetric() {
		if matches(m, labels) {
			total += value(m)
		}
	}
	return total
}

// Observed adds up the sums and counts of histogram name's samples whose labels include every
// pair of labels: the seconds observed and how many observations.
func (s Scraped) Observed(name string, labels ...string) (sum float64, count uint64) {
	for _, m := range s[name].GetMetric() {
		if h := m.GetHistogram(); h != nil && matches(m, labels) {
			sum += h.GetSampleSum()
			count += h.GetSampleCount()
		}
	}
	return sum, count
}

// By sums counter or gauge name by the value of its label label, over the samples whose
// labels include every pair of where.
func (s Scraped) By(name, label string, where ...string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range s[name].GetMetric() {
		if !matches(m, where) {
			continue
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += value(m)
			}
		}
	}
	return out
}

// value is a counter's, a gauge's or an untyped sample's value (histograms and summaries
// are not summed).
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
		}
		if !found {
			return false
		}
	}
	return true
}
