// Reference encodings of containerd's runc options, as containerd's own Go types marshal them.
package main

import (
	"encoding/hex"
	"encoding/json"
	"os"

	"github.com/containerd/containerd/runtime/linux/runctypes"
	"github.com/containerd/containerd/runtime/v2/runc/options"
	"github.com/containerd/typeurl"
)

func main() {
	cases := []struct {
		name string
		msg  interface{}
	}{
		{"systemd_cgroup", &options.Options{SystemdCgroup: true}},
		{"runc_all", &options.Options{
			NoPivotRoot: true, NoNewKeyring: true, ShimCgroup: "/shim", IoUid: 1000, IoGid: 4294967295,
			BinaryName: "/usr/bin/crun", Root: "/run/crun-root", SystemdCgroup: true,
			CriuImagePath: "/ckpt/image", CriuWorkPath: "/ckpt/work",
		}},
		{"runc_empty", &options.Options{}},
		{"create_all", &runctypes.CreateOptions{
			NoPivotRoot: true, OpenTcp: true, ExternalUnixSockets: true, Terminal: true, FileLocks: true,
			EmptyNamespaces: []string{"network", "ipc"}, CgroupsMode: "soft", NoNewKeyring: true,
			ShimCgroup: "/shim", IoUid: 1, IoGid: 2, CriuWorkPath: "/w", CriuImagePath: "/i",
		}},
	}
	out := map[string]map[string]string{}
	for _, c := range cases {
		any, err := typeurl.MarshalAny(c.msg)
		if err != nil {
			panic(err)
		}
		out[c.name] = map[string]string{"type_url": any.GetTypeUrl(), "value": hex.EncodeToString(any.GetValue())}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}
