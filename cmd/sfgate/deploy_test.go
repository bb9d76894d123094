package main

import (
	"bytes"
	"net"
	"os"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sfgate/sfgate/gateway/config"
)

// The Kubernetes manifest's configuration loads; its admin listener is on loopback, the probes use the
// health listener, and the grace period outlasts preStop + drainDelay + shutdownTimeout.
func TestKubernetesManifest(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/sfgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type probe struct {
		HTTPGet struct {
			Path string
			Port string
		} `yaml:"httpGet"`
	}
	var cfgText string
	var pod struct {
		Grace      *int `yaml:"terminationGracePeriodSeconds"`
		Containers []struct {
			Readiness probe `yaml:"readinessProbe"`
			Liveness  probe `yaml:"livenessProbe"`
			Lifecycle struct {
				PreStop struct{ Sleep struct{ Seconds int } } `yaml:"preStop"`
			}
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string
			Data map[string]string
			Spec struct {
				Template struct{ Spec yaml.Node }
			}
		}
		if dec.Decode(&doc) != nil {
			break
		}
		switch doc.Kind {
		case "ConfigMap":
			cfgText = doc.Data["sfgate.yaml"]
		case "Deployment":
			if err := doc.Spec.Template.Spec.Decode(&pod); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg, err := config.Parse([]byte(cfgText), "deploy/kubernetes/sfgate.yaml#sfgate.yaml")
	if err != nil {
		t.Fatalf("the ConfigMap's configuration: %v", err)
	}
	if host, _, _ := net.SplitHostPort(cfg.Admin); host != "127.0.0.1" {
		t.Errorf("admin %q: want it on loopback", cfg.Admin)
	}
	if cfg.Health == "" {
		t.Fatal("no health listener for the probes")
	}
	if len(pod.Containers) != 1 || pod.Grace == nil {
		t.Fatalf("want one container and terminationGracePeriodSeconds: %+v", pod)
	}
	c := pod.Containers[0]
	for _, p := range []probe{c.Readiness, c.Liveness} {
		if p.HTTPGet.Port != "health" {
			t.Errorf("probe %s on port %q, want the health port", p.HTTPGet.Path, p.HTTPGet.Port)
		}
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if need := preStop + *cfg.DrainDelay + cfg.ShutdownTimeout; time.Duration(*pod.Grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d is not longer than preStop + drainDelay + shutdownTimeout = %s", *pod.Grace, need)
	}
}
