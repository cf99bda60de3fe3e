package benchkit

import (
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ds := []time.Duration{5, 1, 3}
	if got := Median(ds); got != 3 {
		t.Errorf("Median(%v) = %v, want 3", ds, got)
	}
	if ds[0] != 5 {
		t.Error("Median reordered its argument")
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median of 1..4 = %v, want 2.5", got)
	}
	if got := Median([]float64(nil)); got != 0 {
		t.Errorf("Median(nil) = %v", got)
	}
}

func TestPercentile(t *testing.T) {
	xs := []time.Duration{50, 10, 40, 20, 30}
	for p, want := range map[float64]time.Duration{0: 10, 0.5: 30, 0.9: 40, 1: 50} {
		if got := Percentile(xs, p); got != want {
			t.Errorf("Percentile(%v) = %v, want %v", p, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "64K": 64 << 10, "100M": 100 << 20, "1G": 1 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "1T", "1.5G", "1KM", "9000000000G"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	a := ProcessCPU()
	deadline := time.Now().Add(10 * time.Second)
	for ProcessCPU() <= a { // burns CPU until the count moves
		if time.Now().After(deadline) {
			t.Fatalf("ProcessCPU stuck at %v", a)
		}
	}
}
