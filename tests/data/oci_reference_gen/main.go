package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

type result struct {
	User  string   `json:"user"`
	Flow  string   `json:"flow"`
	UID   uint32   `json:"uid"`
	GID   uint32   `json:"gid"`
	Gids  []uint32 `json:"additionalGids"`
	Error string   `json:"error,omitempty"`
}

type envCase struct {
	Defaults  []string `json:"defaults"`
	Overrides []string `json:"overrides"`
	Result    []string `json:"result"`
}

// Usage: go run . default            > oci_default_spec.json
//        go run . users <rootfs>     > oci_user_reference.json
func main() {
	ctx := namespaces.WithNamespace(context.Background(), "testns")
	if os.Args[1] == "default" {
		s, err := oci.GenerateSpecWithPlatform(ctx, nil, "linux/amd64", &containers.Container{ID: "ctr1"})
		if err != nil {
			panic(err)
		}
		b, _ := json.MarshalIndent(s, "", "  ")
		os.Stdout.Write(b)
		os.Stdout.Write([]byte("\n"))
		return
	}
	rootfs := os.Args[2]
	c := &containers.Container{ID: "c"}
	users := []string{"0", "1000", "1001", "1002", "1003", "99999", "65534", "alice", "bob", "carol", "nobody", "shadowroot", "dave",
		"missing", "bob:staff", "1000:1000", "alice:100", "0:wheel", "1001:5", "alice:nogroup", "alice:missing", "a:b:c", "+1000", "-1", "2147483648", "007"}
	var out []result
	for _, flow := range []string{"with_user", "image"} {
		for _, u := range users {
			s, _ := oci.GenerateSpec(ctx, nil, c)
			s.Root.Path = rootfs
			err := oci.WithUser(u)(ctx, nil, c, s)
			if err == nil && flow == "image" {
				err = oci.WithAdditionalGIDs(fmt.Sprintf("%d", s.Process.User.UID))(ctx, nil, c, s)
			}
			r := result{User: u, Flow: flow, UID: s.Process.User.UID, GID: s.Process.User.GID, Gids: s.Process.User.AdditionalGids}
			if err != nil {
				r = result{User: u, Flow: flow, Error: err.Error()}
			}
			out = append(out, r)
		}
	}
	// No user in the image config: additional gids of "root".
	s, _ := oci.GenerateSpec(ctx, nil, c)
	s.Root.Path = rootfs
	err := oci.WithAdditionalGIDs("root")(ctx, nil, c, s)
	r := result{User: "", Flow: "image", UID: s.Process.User.UID, GID: s.Process.User.GID, Gids: s.Process.User.AdditionalGids}
	if err != nil {
		r.Error = err.Error()
	}
	out = append(out, r)

	envs := []envCase{
		{Defaults: []string{"PATH=/bin", "A=1"}, Overrides: []string{"A=2", "B=3"}},
		{Defaults: []string{"PATH=/bin", "A=1"}, Overrides: []string{"A", "C"}},
		{Defaults: []string{"A=1", "A=2"}, Overrides: []string{"A=3"}},
		{Defaults: []string{"A=1", "B=2", "C=3"}, Overrides: []string{"B", "A=0", "D=x=y"}},
		{Defaults: []string{}, Overrides: []string{"X=", "Y=1"}},
		{Defaults: []string{"EMPTY="}, Overrides: []string{"EMPTY"}},
	}
	for i := range envs {
		s, _ := oci.GenerateSpec(ctx, nil, c)
		s.Process.Env = envs[i].Defaults
		_ = oci.WithEnv(envs[i].Overrides)(ctx, nil, c, s)
		envs[i].Result = s.Process.Env
	}
	b, _ := json.MarshalIndent(map[string]interface{}{"users": out, "env": envs}, "", "  ")
	os.Stdout.Write(b)
	os.Stdout.Write([]byte("\n"))
}
