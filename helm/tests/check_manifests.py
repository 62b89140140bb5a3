#!/usr/bin/python3
"""Checks the manifests `helm template` rendered from the tandem chart.

Usage: check_manifests.py RENDERED.yaml [EXTERNAL-SECRETS.yaml]

RENDERED.yaml is helm's output (every document, test hooks included);
EXTERNAL-SECRETS.yaml holds the Secrets an operator creates before
installing (the chart only names them), with the keys they must have.

Checks, each failure printed as `FAIL <kind>/<name>: <what>`:
  - every document is valid YAML with apiVersion, kind and metadata.name,
    and no two objects share a kind and name;
  - every object (and every pod template) has the app.kubernetes.io/* and
    helm.sh/chart labels; selectors use only the stable ones and match;
  - every container of a Deployment has liveness and readiness probes whose
    ports exist, CPU and memory requests and a memory limit, and runs as
    non-root with a read-only root filesystem, no privilege escalation and
    every capability dropped (test pods: all but the probes);
  - every ConfigMap and Secret a pod references exists (rendered, or among
    the external Secrets) with the keys it names; every volume mount has its
    volume; every `--*_file=` flag names a file some mount provides;
  - every port exists: Service targetPorts in the pods they select, `--listen`
    style flags in the container's ports, `--router=`/`--catalog=` style
    addresses among the rendered Services' ports, probe ports, scrape
    annotations, ServiceMonitor endpoints;
  - HPAs, PDBs and ServiceMonitors point at objects that exist;
  - images carry a fixed tag.
Exits 0 when everything holds, 1 otherwise.
"""

import re
import sys

import yaml

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)
# The labels that never change for a release: the only ones a selector may
# use (plus the chart's own tandem-metrics marker for ServiceMonitors).
STABLE_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
# Flags whose value is host:port of another service of the release.
ADDRESS_FLAGS = ("router", "catalog")
# Flags whose value is the container's own listening address.
LISTEN_FLAGS = ("listen", "metrics_listen", "admin_listen")


class Checker:
    def __init__(self, objects, external_secrets):
        self.objects = objects
        self.failures = []
        self.configmaps = {}
        self.secrets = {}
        self.services = {}
        self.deployments = {}
        self.pods = []  # (owner, pod spec, pod labels, is test hook)
        for obj in objects:
            kind, name = obj["kind"], obj["metadata"]["name"]
            if kind == "ConfigMap":
                self.configmaps[name] = set(obj.get("data") or {}) | set(
                    obj.get("binaryData") or {})
            elif kind == "Secret":
                self.secrets[name] = set(obj.get("data") or {}) | set(
                    obj.get("stringData") or {})
            elif kind == "Service":
                self.services[name] = obj
            elif kind == "Deployment":
                self.deployments[name] = obj
                template = obj["spec"]["template"]
                self.pods.append((obj, template["spec"],
                                  template["metadata"].get("labels") or {},
                                  False))
            elif kind == "Pod":
                annotations = obj["metadata"].get("annotations") or {}
                self.pods.append((obj, obj["spec"],
                                  obj["metadata"].get("labels") or {},
                                  annotations.get("helm.sh/hook") == "test"))
        for secret in external_secrets:
            name = secret["metadata"]["name"]
            self.secrets.setdefault(name, set()).update(
                set(secret.get("data") or {})
                | set(secret.get("stringData") or {}))

    def fail(self, obj, what):
        self.failures.append(
            "FAIL %s/%s: %s" % (obj["kind"], obj["metadata"]["name"], what))

    # -- Labels and selectors -------------------------------------------

    def check_labels(self):
        for obj in self.objects:
            labels = obj["metadata"].get("labels") or {}
            for label in STANDARD_LABELS:
                if not labels.get(label):
                    self.fail(obj, "label %s missing" % label)
        for owner, _, labels, _ in self.pods:
            if owner["kind"] == "Deployment":
                for label in STANDARD_LABELS:
                    if not labels.get(label):
                        self.fail(owner, "pod template label %s missing" %
                                  label)

    def check_selector(self, obj, selector, extra=()):
        if not selector:
            self.fail(obj, "empty selector")
            return
        unstable = set(selector) - STABLE_LABELS - set(extra)
        if unstable:
            self.fail(obj, "selector uses labels that change: %s" %
                      sorted(unstable))

    def pods_selected_by(self, selector):
        return [(owner, spec) for owner, spec, labels, hook in self.pods
                if not hook and all(
                    labels.get(k) == v for k, v in selector.items())]

    # -- Containers -------------------------------------------------------

    def check_security(self, owner, pod_spec, container):
        pod_ctx = pod_spec.get("securityContext") or {}
        ctx = container.get("securityContext") or {}
        name = container["name"]
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            self.fail(owner, "container %s may run as root" % name)
        user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        if user == 0:
            self.fail(owner, "container %s runs as uid 0" % name)
        if ctx.get("readOnlyRootFilesystem") is not True:
            self.fail(owner, "container %s: root filesystem writable" % name)
        if ctx.get("allowPrivilegeEscalation") is not False:
            self.fail(owner, "container %s: privilege escalation allowed" %
                      name)
        drop = (ctx.get("capabilities") or {}).get("drop") or []
        if "ALL" not in drop:
            self.fail(owner, "container %s: capabilities not all dropped" %
                      name)
        if (ctx.get("capabilities") or {}).get("add"):
            self.fail(owner, "container %s adds capabilities" % name)
        if ctx.get("privileged"):
            self.fail(owner, "container %s is privileged" % name)

    def check_resources(self, owner, container):
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        for what in ("cpu", "memory"):
            if not requests.get(what):
                self.fail(owner, "container %s: no %s request" %
                          (container["name"], what))
        if not limits.get("memory"):
            self.fail(owner, "container %s: no memory limit" %
                      container["name"])

    def check_probe_port(self, owner, container, probe_name, probe):
        ports = container.get("ports") or []
        numbers = {p["containerPort"] for p in ports}
        names = {p.get("name") for p in ports}
        for handler in ("grpc", "httpGet", "tcpSocket"):
            if handler not in probe:
                continue
            port = probe[handler].get("port")
            if isinstance(port, int) and port not in numbers:
                self.fail(owner, "%s of %s: port %s not a container port" %
                          (probe_name, container["name"], port))
            if isinstance(port, str) and port not in names:
                self.fail(owner, "%s of %s: no container port named %s" %
                          (probe_name, container["name"], port))
            return
        if "exec" not in probe:
            self.fail(owner, "%s of %s has no handler" %
                      (probe_name, container["name"]))

    def check_probes(self, owner, container):
        for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
            probe = container.get(probe_name)
            if probe is None:
                if probe_name != "startupProbe":
                    self.fail(owner, "container %s: no %s" %
                              (container["name"], probe_name))
                continue
            self.check_probe_port(owner, container, probe_name, probe)

    def flags(self, container):
        out = {}
        for arg in (container.get("command") or []) + (
                container.get("args") or []):
            match = re.match(r"^--([a-z_]+)=(.*)$", str(arg))
            if match:
                out[match.group(1)] = match.group(2)
        return out

    def check_listen_flags(self, owner, container):
        numbers = {p["containerPort"] for p in container.get("ports") or []}
        for flag, value in self.flags(container).items():
            if flag in LISTEN_FLAGS:
                port = int(value.rsplit(":", 1)[1])
                if port not in numbers:
                    self.fail(owner, "%s: --%s port %d is not a container "
                              "port" % (container["name"], flag, port))

    def check_addresses(self, owner, container):
        for flag, value in self.flags(container).items():
            if flag not in ADDRESS_FLAGS:
                continue
            host, _, port = value.rpartition(":")
            service = self.services.get(host.split(".")[0])
            if service is None:
                self.fail(owner, "%s: --%s=%s names no rendered Service" %
                          (container["name"], flag, value))
                continue
            ports = {p["port"] for p in service["spec"]["ports"]}
            if int(port) not in ports:
                self.fail(owner, "%s: --%s=%s: Service %s has no port %s" %
                          (container["name"], flag, value, host, port))

    # -- Volumes, ConfigMaps, Secrets ------------------------------------

    def volume_files(self, owner, volume):
        """Checks a volume's references; returns the files it provides
        (None when it provides any path, e.g. an emptyDir)."""
        if "configMap" in volume:
            ref, known, what = volume["configMap"], self.configmaps, "ConfigMap"
            name = ref.get("name")
        elif "secret" in volume:
            ref, known, what = volume["secret"], self.secrets, "Secret"
            name = ref.get("secretName")
        else:
            return None
        if name not in known:
            if not ref.get("optional"):
                self.fail(owner, "volume %s: %s %s does not exist" %
                          (volume["name"], what, name))
            return set()
        items = ref.get("items")
        if not items:
            return set(known[name])
        files = set()
        for item in items:
            if item["key"] not in known[name]:
                self.fail(owner, "volume %s: %s %s has no key %s" %
                          (volume["name"], what, name, item["key"]))
            files.add(item["path"])
        return files

    def check_env_refs(self, owner, container):
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                name = source["configMapRef"]["name"]
                if name not in self.configmaps:
                    self.fail(owner, "envFrom: ConfigMap %s does not exist" %
                              name)
            if "secretRef" in source:
                name = source["secretRef"]["name"]
                if name not in self.secrets:
                    self.fail(owner, "envFrom: Secret %s does not exist" %
                              name)
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            for ref_name, known, what in (
                    ("configMapKeyRef", self.configmaps, "ConfigMap"),
                    ("secretKeyRef", self.secrets, "Secret")):
                if ref_name not in source:
                    continue
                ref = source[ref_name]
                if ref["name"] not in known:
                    self.fail(owner, "env %s: %s %s does not exist" %
                              (env["name"], what, ref["name"]))
                elif ref["key"] not in known[ref["name"]]:
                    self.fail(owner, "env %s: %s %s has no key %s" %
                              (env["name"], what, ref["name"], ref["key"]))

    def check_volumes(self, owner, pod_spec):
        volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
        provided = {name: self.volume_files(owner, v)
                    for name, v in volumes.items()}
        mounted = set()
        for container in pod_spec.get("containers") or []:
            mounts = {}
            for mount in container.get("volumeMounts") or []:
                if mount["name"] not in volumes:
                    self.fail(owner, "%s mounts volume %s, which the pod "
                              "lacks" % (container["name"], mount["name"]))
                    continue
                mounted.add(mount["name"])
                mounts[mount["mountPath"].rstrip("/")] = mount["name"]
            for flag, value in self.flags(container).items():
                if flag.endswith("_file") and value:
                    self.check_file_flag(owner, container, flag, value,
                                         mounts, provided)
            self.check_env_refs(owner, container)
        for name in volumes:
            if name not in mounted:
                self.fail(owner, "volume %s is never mounted" % name)

    def check_file_flag(self, owner, container, flag, path, mounts, provided):
        directory, _, base = path.rpartition("/")
        if directory not in mounts:
            self.fail(owner, "%s: --%s=%s is under no mount" %
                      (container["name"], flag, path))
            return
        files = provided[mounts[directory]]
        if files is not None and base not in files:
            self.fail(owner, "%s: --%s=%s: the volume mounted there has no "
                      "file %s" % (container["name"], flag, path, base))

    # -- Workloads --------------------------------------------------------

    def check_pods(self):
        for owner, pod_spec, labels, hook in self.pods:
            if owner["kind"] == "Pod" and not hook:
                self.fail(owner, "a bare Pod that is not a test hook")
            ctx = pod_spec.get("securityContext") or {}
            if not ctx.get("runAsNonRoot"):
                self.fail(owner, "pod securityContext.runAsNonRoot not set")
            if not pod_spec.get("containers"):
                self.fail(owner, "no containers")
            for pull in pod_spec.get("imagePullSecrets") or []:
                if pull["name"] not in self.secrets:
                    self.fail(owner, "image pull Secret %s does not exist" %
                              pull["name"])
            for container in pod_spec.get("containers") or []:
                self.check_security(owner, pod_spec, container)
                self.check_resources(owner, container)
                if not hook:
                    self.check_probes(owner, container)
                self.check_listen_flags(owner, container)
                self.check_addresses(owner, container)
                image = container.get("image", "")
                if "@sha256:" not in image and (
                        ":" not in image.rsplit("/", 1)[-1]
                        or image.endswith(":latest")):
                    self.fail(owner, "%s: image %s has no fixed tag" %
                              (container["name"], image))
            self.check_volumes(owner, pod_spec)
            if owner["kind"] == "Deployment":
                self.check_deployment(owner, pod_spec, labels)

    def check_deployment(self, deployment, pod_spec, labels):
        selector = deployment["spec"]["selector"].get("matchLabels") or {}
        self.check_selector(deployment, selector)
        if any(labels.get(k) != v for k, v in selector.items()):
            self.fail(deployment, "selector does not match its pod labels")
        if "terminationGracePeriodSeconds" not in pod_spec:
            self.fail(deployment, "no terminationGracePeriodSeconds")
        annotations = (deployment["spec"]["template"]["metadata"].get(
            "annotations") or {})
        if annotations.get("prometheus.io/scrape") == "true":
            port = int(annotations.get("prometheus.io/port", "0"))
            metric_ports = {p["containerPort"]
                            for c in pod_spec["containers"]
                            for p in c.get("ports") or []
                            if p.get("name") == "metrics"}
            if port not in metric_ports:
                self.fail(deployment, "prometheus.io/port %d is not the "
                          "metrics port" % port)

    def check_services(self):
        for name, service in self.services.items():
            selector = service["spec"].get("selector") or {}
            self.check_selector(service, selector)
            selected = self.pods_selected_by(selector)
            if not selected:
                self.fail(service, "selects no pods")
            for port in service["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                for owner, pod_spec in selected:
                    container_ports = [p for c in pod_spec["containers"]
                                       for p in c.get("ports") or []]
                    if not any(p.get("name") == target
                               or p["containerPort"] == target
                               for p in container_ports):
                        self.fail(service, "port %s: target %s is not a "
                                  "port of %s" % (port["name"], target,
                                                  owner["metadata"]["name"]))

    def check_references(self):
        for obj in self.objects:
            kind, spec = obj["kind"], obj.get("spec") or {}
            if kind == "HorizontalPodAutoscaler":
                ref = spec["scaleTargetRef"]
                target = self.deployments.get(ref["name"])
                if ref["kind"] != "Deployment" or target is None:
                    self.fail(obj, "scales %s/%s, which does not exist" %
                              (ref["kind"], ref["name"]))
                elif "replicas" in target["spec"]:
                    self.fail(obj, "its Deployment also sets replicas")
            elif kind == "PodDisruptionBudget":
                selector = spec["selector"]["matchLabels"]
                self.check_selector(obj, selector)
                if not self.pods_selected_by(selector):
                    self.fail(obj, "selects no pods")
            elif kind == "ServiceMonitor":
                selector = spec["selector"]["matchLabels"]
                self.check_selector(obj, selector, extra=("tandem-metrics",))
                matched = [s for s in self.services.values() if all(
                    (s["metadata"].get("labels") or {}).get(k) == v
                    for k, v in selector.items())]
                if len(matched) != 1:
                    self.fail(obj, "selects %d Services, not 1" %
                              len(matched))
                for endpoint in spec["endpoints"]:
                    for service in matched:
                        names = {p["name"] for p in service["spec"]["ports"]}
                        if endpoint["port"] not in names:
                            self.fail(obj, "Service %s has no port %s" %
                                      (service["metadata"]["name"],
                                       endpoint["port"]))

    def run(self):
        seen = set()
        for obj in self.objects:
            key = (obj["kind"], obj["metadata"]["name"])
            if key in seen:
                self.fail(obj, "defined twice")
            seen.add(key)
        self.check_labels()
        self.check_pods()
        self.check_services()
        self.check_references()
        return self.failures


def load(path):
    """Parses every document; a document that is not a Kubernetes object
    is an error."""
    objects = []
    with open(path) as f:
        documents = list(yaml.safe_load_all(f))
    for index, doc in enumerate(documents):
        if doc is None:
            continue
        if not isinstance(doc, dict) or not all(
                doc.get(k) for k in ("apiVersion", "kind", "metadata")) or \
                not doc["metadata"].get("name"):
            raise ValueError("%s: document %d is not a Kubernetes object" %
                             (path, index))
        objects.append(doc)
    return objects


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    try:
        objects = load(argv[1])
        external = load(argv[2]) if len(argv) == 3 else []
    except (yaml.YAMLError, ValueError) as error:
        print("FAIL invalid YAML: %s" % error)
        return 1
    failures = Checker(objects, external).run()
    for failure in failures:
        print(failure)
    kinds = {}
    for obj in objects:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
    summary = ", ".join("%d %s" % (n, k) for k, n in sorted(kinds.items()))
    print("%s: %d objects (%s), %d problems" %
          (argv[1], len(objects), summary, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
