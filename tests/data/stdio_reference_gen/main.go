package main

// Reference data for pycontainerd's stdio URIs and task metrics, made with
// containerd 1.6's own Go packages (Debian's sources in /usr/share/gocode).
//
// Usage: go run . uris    > stdio_log_uris.json
//        go run . metrics > metrics_cgroups_v2.bin

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	v2 "github.com/containerd/cgroups/v2/stats"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/typeurl"
)

type uriCase struct {
	Scheme string            `json:"scheme"`
	Path   string            `json:"path"`
	Args   map[string]string `json:"args"`
	URI    string            `json:"uri"`
}

func uris() {
	cases := []uriCase{
		{Scheme: "file", Path: "/var/log/app.log"},
		{Scheme: "file", Path: "/var/log/my app #1?.log"},
		{Scheme: "file", Path: "/var/log/%41/ünï/a;b=c,d+e@f:g"},
		{Scheme: "binary", Path: "/usr/bin/logger"},
		{Scheme: "binary", Path: "/opt/my logger/bin#2", Args: map[string]string{
			"--dir": "/var/log/x y", "b": "1&2=3", "a": "", "ü": "?#%",
		}},
	}
	for i, c := range cases {
		u, err := cio.LogURIGenerator(c.Scheme, c.Path, c.Args)
		if err != nil {
			panic(err)
		}
		cases[i].URI = u.String()
	}
	out, _ := json.MarshalIndent(cases, "", "  ")
	fmt.Println(string(out))
}

// What a runc shim on a cgroup v2 host returns from Tasks.Metrics, as the
// daemon relays it: the shim's stats marshalled with typeurl.MarshalAny.
func metrics() {
	stats := &v2.Metrics{
		Pids: &v2.PidsStat{Current: 7, Limit: 4096},
		CPU: &v2.CPUStat{
			UsageUsec: 1234567, UserUsec: 1000000, SystemUsec: 234567,
			NrPeriods: 10, NrThrottled: 2, ThrottledUsec: 3000,
		},
		Memory: &v2.MemoryStat{
			Anon: 4096000, File: 8192000, Usage: 5000000000, UsageLimit: math.MaxUint64,
			SwapUsage: 0, SwapLimit: 1 << 40,
		},
		Io: &v2.IOStat{Usage: []*v2.IOEntry{{Major: 8, Minor: 0, Rbytes: 1 << 20, Wbytes: 2 << 20, Rios: 3, Wios: 4}}},
		Hugetlb:      []*v2.HugeTlbStat{{Current: 0, Max: 1 << 21, Pagesize: "2MB"}},
		MemoryEvents: &v2.MemoryEvents{Max: 5, Oom: 1, OomKill: 1},
	}
	data, err := typeurl.MarshalAny(stats)
	if err != nil {
		panic(err)
	}
	reply := &tasks.MetricsResponse{Metrics: []*types.Metric{{
		Timestamp: time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC),
		ID:        "web",
		Data:      data,
	}}}
	out, err := reply.Marshal()
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(out)
}

func main() {
	switch os.Args[1] {
	case "uris":
		uris()
	case "metrics":
		metrics()
	}
}
