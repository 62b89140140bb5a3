#!/usr/bin/python3
"""check_manifests.py finds what it claims to: a small valid release passes,
and each kind of mistake in a copy of it is reported."""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_manifests  # noqa: E402


def labels(component):
    return {
        "app.kubernetes.io/name": "tandem",
        "app.kubernetes.io/instance": "r",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "tandem",
        "app.kubernetes.io/version": "0.1.0",
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": "tandem-0.1.0",
    }


def selector(component):
    return {k: v for k, v in labels(component).items()
            if k in check_manifests.STABLE_LABELS}


SECURE = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"},
             "limits": {"memory": "1Gi"}}


def release():
    """A router and a catalog pointing at it, as the chart renders them."""
    def deployment(component, port, extra_args, volumes, mounts):
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "r-" + component,
                         "labels": labels(component)},
            "spec": {
                "selector": {"matchLabels": selector(component)},
                "template": {
                    "metadata": {
                        "labels": labels(component),
                        "annotations": {"prometheus.io/scrape": "true",
                                        "prometheus.io/port": "9101"}},
                    "spec": {
                        "securityContext": {"runAsNonRoot": True,
                                            "runAsUser": 10001},
                        "terminationGracePeriodSeconds": 20,
                        "containers": [{
                            "name": component,
                            "image": "tandem:0.1.0",
                            "args": ["--listen=0.0.0.0:%d" % port,
                                     "--metrics_listen=0.0.0.0:9101"] +
                            extra_args,
                            "ports": [
                                {"name": "grpc", "containerPort": port},
                                {"name": "metrics", "containerPort": 9101}],
                            "livenessProbe": {"grpc": {"port": port}},
                            "readinessProbe": {"grpc": {"port": port}},
                            "resources": copy.deepcopy(RESOURCES),
                            "securityContext": copy.deepcopy(SECURE),
                            "volumeMounts": mounts,
                        }],
                        "volumes": volumes,
                    }}}}

    def service(component, port):
        return {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "r-" + component,
                         "labels": dict(labels(component),
                                        **{"tandem-metrics": "true"})},
            "spec": {"selector": selector(component), "ports": [
                {"name": "grpc", "port": port, "targetPort": "grpc"},
                {"name": "metrics", "port": 9101, "targetPort": "metrics"}]}}

    router = deployment(
        "router", 7001,
        ["--db_password_file=/etc/tandem/secrets/control-db-password"],
        [{"name": "db", "secret": {"secretName": "router-db", "items": [
            {"key": "password", "path": "control-db-password"}]}}],
        [{"name": "db", "mountPath": "/etc/tandem/secrets"}])
    catalog = deployment(
        "catalog", 7003,
        ["--router=r-router:7001",
         "--mapping_file=/etc/tandem/mapping/mapping.yaml"],
        [{"name": "mapping", "configMap": {"name": "r-mapping", "items": [
            {"key": "mapping.yaml", "path": "mapping.yaml"}]}}],
        [{"name": "mapping", "mountPath": "/etc/tandem/mapping"}])
    return [
        router, service("router", 7001),
        catalog, service("catalog", 7003),
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "r-mapping", "labels": labels("catalog")},
         "data": {"mapping.yaml": "{}"}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
         "metadata": {"name": "r-router", "labels": labels("router")},
         "spec": {"maxUnavailable": 1,
                  "selector": {"matchLabels": selector("router")}}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
         "metadata": {"name": "r-router", "labels": labels("router")},
         "spec": {"selector": {"matchLabels": dict(
             selector("router"), **{"tandem-metrics": "true"})},
             "endpoints": [{"port": "metrics"}]}},
    ]


EXTERNAL = [{"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "router-db"},
             "stringData": {"password": "x"}}]


def problems(objects):
    return check_manifests.Checker(objects, EXTERNAL).run()


def find(objects, kind, name):
    return next(o for o in objects
                if o["kind"] == kind and o["metadata"]["name"] == name)


def container(objects, name):
    deployment = find(objects, "Deployment", name)
    return deployment["spec"]["template"]["spec"]["containers"][0]


class CheckManifestsTest(unittest.TestCase):
    def assertReports(self, objects, fragment):
        found = problems(objects)
        self.assertTrue(any(fragment in p for p in found),
                        "no problem mentions %r; got %r" % (fragment, found))

    def test_a_correct_release_passes(self):
        self.assertEqual(problems(release()), [])

    def test_missing_standard_label(self):
        objects = release()
        del find(objects, "Service", "r-router")["metadata"]["labels"][
            "helm.sh/chart"]
        self.assertReports(objects, "label helm.sh/chart missing")

    def test_selector_on_a_changing_label(self):
        objects = release()
        find(objects, "Deployment", "r-router")["spec"]["selector"][
            "matchLabels"]["app.kubernetes.io/version"] = "0.1.0"
        self.assertReports(objects, "selector uses labels that change")

    def test_missing_probe(self):
        objects = release()
        del container(objects, "r-router")["readinessProbe"]
        self.assertReports(objects, "no readinessProbe")

    def test_probe_on_a_port_the_container_lacks(self):
        objects = release()
        container(objects, "r-router")["livenessProbe"] = {
            "httpGet": {"port": "http", "path": "/"}}
        self.assertReports(objects, "no container port named http")

    def test_missing_resources(self):
        objects = release()
        del container(objects, "r-router")["resources"]["limits"]["memory"]
        self.assertReports(objects, "no memory limit")

    def test_writable_root_filesystem(self):
        objects = release()
        container(objects, "r-router")["securityContext"][
            "readOnlyRootFilesystem"] = False
        self.assertReports(objects, "root filesystem writable")

    def test_capabilities_kept(self):
        objects = release()
        container(objects, "r-router")["securityContext"]["capabilities"] = {}
        self.assertReports(objects, "capabilities not all dropped")

    def test_root_user(self):
        objects = release()
        container(objects, "r-router")["securityContext"]["runAsUser"] = 0
        self.assertReports(objects, "runs as uid 0")

    def test_unknown_secret_key(self):
        objects = release()
        find(objects, "Deployment", "r-router")["spec"]["template"]["spec"][
            "volumes"][0]["secret"]["items"][0]["key"] = "pasword"
        self.assertReports(objects, "Secret router-db has no key pasword")

    def test_unknown_configmap(self):
        objects = [o for o in release() if o["kind"] != "ConfigMap"]
        self.assertReports(objects, "ConfigMap r-mapping does not exist")

    def test_file_flag_outside_every_mount(self):
        objects = release()
        container(objects, "r-catalog")["args"].append(
            "--router_token_file=/etc/tandem/client/router-token")
        self.assertReports(objects, "is under no mount")

    def test_file_flag_naming_a_file_the_volume_lacks(self):
        objects = release()
        container(objects, "r-router")["args"].append(
            "--auth_tokens_file=/etc/tandem/secrets/tokens")
        self.assertReports(objects, "has no file tokens")

    def test_listen_port_not_declared(self):
        objects = release()
        container(objects, "r-router")["args"][0] = "--listen=0.0.0.0:7100"
        self.assertReports(objects, "--listen port 7100 is not a container")

    def test_address_of_a_missing_service(self):
        objects = release()
        container(objects, "r-catalog")["args"][2] = "--router=r-routr:7001"
        self.assertReports(objects, "names no rendered Service")

    def test_address_with_a_wrong_port(self):
        objects = release()
        container(objects, "r-catalog")["args"][2] = "--router=r-router:7002"
        self.assertReports(objects, "Service r-router has no port 7002")

    def test_service_target_port_missing(self):
        objects = release()
        find(objects, "Service", "r-router")["spec"]["ports"][0][
            "targetPort"] = "gprc"
        self.assertReports(objects, "target gprc is not a port")

    def test_service_selecting_nothing(self):
        objects = release()
        find(objects, "Service", "r-router")["spec"]["selector"][
            "app.kubernetes.io/component"] = "routr"
        self.assertReports(objects, "selects no pods")

    def test_service_monitor_port_missing(self):
        objects = release()
        find(objects, "ServiceMonitor", "r-router")["spec"]["endpoints"][0][
            "port"] = "prometheus"
        self.assertReports(objects, "has no port prometheus")

    def test_scrape_annotation_on_the_wrong_port(self):
        objects = release()
        find(objects, "Deployment", "r-router")["spec"]["template"][
            "metadata"]["annotations"]["prometheus.io/port"] = "7001"
        self.assertReports(objects, "is not the metrics port")

    def test_unfixed_image_tag(self):
        objects = release()
        container(objects, "r-router")["image"] = "tandem:latest"
        self.assertReports(objects, "has no fixed tag")

    def test_unmounted_volume(self):
        objects = release()
        container(objects, "r-router")["volumeMounts"] = []
        self.assertReports(objects, "volume db is never mounted")

    def test_unknown_image_pull_secret(self):
        objects = release()
        find(objects, "Deployment", "r-router")["spec"]["template"]["spec"][
            "imagePullSecrets"] = [{"name": "registry"}]
        self.assertReports(objects, "image pull Secret registry does not")

    def test_duplicate_object(self):
        objects = release()
        objects.append(copy.deepcopy(find(objects, "Service", "r-router")))
        self.assertReports(objects, "defined twice")

    def test_hpa_and_replicas_both(self):
        objects = release()
        find(objects, "Deployment", "r-router")["spec"]["replicas"] = 2
        objects.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "r-router", "labels": labels("router")},
            "spec": {"scaleTargetRef": {"kind": "Deployment",
                                        "name": "r-router"}}})
        self.assertReports(objects, "its Deployment also sets replicas")


if __name__ == "__main__":
    unittest.main()
