"""Facts about the pinned Helm charts, read from upstream at the pinned tags (not copied files).

For every mapping level of our rendered values, the keys the chart version declares there: the
properties of values.schema.json where the chart has one (`closed`: the schema sets
additionalProperties false, so any other key fails `helm install`), else the keys of the chart's
values.yaml (other keys are ignored silently: a typo or a renamed key does nothing). `open` levels
are free-form by design (Kubernetes objects, annotations, node selectors, Loki config blocks
checked separately below). Re-read these when a pin in k8s-export/helm/charts.yaml moves:
test_chart_values.py fails until the versions here match.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Level:
    closed: bool
    keys: str
    """Space-separated key names the chart declares at this level."""
    extra: dict[str, str] = field(default_factory=dict)
    """Keys a template reads although values.yaml does not declare them -> where."""

    def allowed(self) -> set[str]:
        return set(self.keys.split()) | set(self.extra)


@dataclass(frozen=True)
class Chart:
    version: str
    sources: list[str]
    levels: dict[str, Level]
    open: list[str]
    named: list[str] = field(default_factory=list)
    """Levels whose keys are free names (entrypoints, plugins): each entry follows `<level>.*`."""


CHARTS: dict[str, Chart] = {
    "traefik": Chart(
        version="41.3.0",
        sources=[
            "https://github.com/traefik/traefik-helm-chart/blob/v41.3.0/traefik/values.schema.json",
            "https://github.com/traefik/traefik-helm-chart/blob/v41.3.0/traefik/values.yaml",
            "experimental.localPlugins.*: https://github.com/traefik/traefik-helm-chart/blob/v41.3.0/"
            "traefik/templates/_podtemplate.tpl and templates/_helpers.tpl (read by the templates)",
        ],
        levels={
            "": Level(
                closed=True,
                keys=(
                    "accessLog additionalArguments additionalVolumeMounts affinity api autoscaling "
                    "certificatesResolvers commonLabels core deployment enabled env envFrom "
                    "experimental extraObjects fullnameOverride gateway gatewayClass global "
                    "hostNetwork hub image ingressClass ingressRoute instanceLabelOverride "
                    "livenessProbe log metrics nameOverride namespaceOverride nodeSelector oci_meta "
                    "ocsp offering_version persistence podDisruptionBudget podSecurityContext ports "
                    "priorityClassName providers rbac readinessProbe resources securityContext "
                    "service serviceAccount serviceAccountAnnotations startupProbe tlsOptions "
                    "tlsStore tolerations topologySpreadConstraints tracing updateStrategy "
                    "versionOverride volumes"
                ),
            ),
            "providers": Level(
                closed=True,
                keys=(
                    "file knative kubernetesCRD kubernetesGateway kubernetesIngress "
                    "kubernetesIngressNGINX precedence"
                ),
            ),
            "providers.kubernetesCRD": Level(
                closed=True,
                keys=(
                    "allowCrossNamespace allowEmptyServices allowExternalNameServices "
                    "crossProviderNamespaces defaultTLSResourcesNamespace enabled ingressClass "
                    "labelSelector namespaces nativeLBByDefault safeNaming"
                ),
            ),
            "providers.kubernetesIngress": Level(
                closed=True,
                keys=(
                    "allowEmptyServices allowExternalNameServices crossProviderNamespaces "
                    "disableIngressClassLookup enabled ingressClass ingressEndpoint labelSelector "
                    "namespaces nativeLBByDefault publishedService strictPrefixMatching"
                ),
            ),
            "ingressClass": Level(
                closed=True,
                keys="enabled isDefaultClass name",
            ),
            "gateway": Level(
                closed=False,
                keys="annotations defaultScope enabled infrastructure listeners name namespace",
            ),
            "ports.*": Level(
                closed=True,
                keys=(
                    "allowACMEByPass appProtocol asDefault containerPort expose exposedPort "
                    "forwardedHeaders hostIP hostPort http http3 nodePort observability port protocol "
                    "proxyProtocol targetPort transport uplink"
                ),
            ),
            "api": Level(
                closed=True,
                keys="basePath dashboard dashboardName debug disableDashboardAd insecure",
            ),
            "ingressRoute": Level(
                closed=False,
                keys="dashboard healthcheck",
            ),
            "ingressRoute.dashboard": Level(
                closed=False,
                keys="annotations enabled entryPoints labels matchRule middlewares services tls",
            ),
            "service": Level(
                closed=False,
                keys=(
                    "additionalServices annotations annotationsTCP annotationsUDP enabled labels "
                    "nameOverride single spec"
                ),
            ),
            "log": Level(
                closed=False,
                keys="filePath format level noColor otlp",
            ),
            "accessLog": Level(
                closed=False,
                keys=("addInternals bufferingSize dualOutput enabled fields filters format otlp timezone"),
            ),
            "accessLog.filters": Level(
                closed=True,
                keys="minDuration retryAttempts statusCodes",
            ),
            "accessLog.fields": Level(
                closed=False,
                keys="defaultMode headers names queryParameters",
            ),
            "accessLog.fields.headers": Level(
                closed=False,
                keys="defaultMode names",
            ),
            "global": Level(
                closed=False,
                keys="azure checkNewVersion notAppendXForwardedFor sendAnonymousUsage",
            ),
            "experimental": Level(
                closed=False,
                keys="abortOnPluginFailure fastProxy knative kubernetesGateway localPlugins otlpLogs plugins",
            ),
            # values.yaml declares localPlugins: {} and the schema only `type: object`; the keys of
            # an entry are the ones the templates read.
            "experimental.localPlugins.*": Level(
                closed=False,
                keys="",
                extra={
                    "moduleName": "_podtemplate.tpl: --experimental.localPlugins.<name>.moduleName",
                    "mountPath": "_podtemplate.tpl: the volumeMount's mountPath",
                    "type": "_helpers.tpl traefik.getLocalPluginType: hostPath, inlinePlugin or localPath",
                    "source": "_helpers.tpl traefik.getLocalPluginInlineFiles: file name -> text",
                    "hostPath": "_helpers.tpl traefik.getLocalPluginHostPath",
                    "volumeName": "_helpers.tpl traefik.getLocalPluginLocalPath (localPath type)",
                    "subPath": "_podtemplate.tpl (localPath type)",
                    "settings": "_podtemplate.tpl: settings.useUnsafe",
                },
            ),
            "metrics": Level(
                closed=False,
                keys="addInternals otlp prometheus",
            ),
            "metrics.prometheus": Level(
                closed=False,
                keys=(
                    "addEntryPointsLabels addRoutersLabels addServicesLabels buckets disableAPICheck "
                    "entryPoint headerLabels manualRouting prometheusRule service serviceMonitor"
                ),
            ),
            "metrics.prometheus.service": Level(
                closed=False,
                keys="annotations enabled labels",
            ),
            "metrics.prometheus.serviceMonitor": Level(
                closed=False,
                keys=(
                    "additionalLabels apiVersion enableHttp2 enabled followRedirects honorLabels "
                    "honorTimestamps interval jobLabel metricRelabelings namespace namespaceSelector "
                    "relabelings scrapeTimeout"
                ),
            ),
            "podDisruptionBudget": Level(
                closed=True,
                keys="enabled maxUnavailable minAvailable",
            ),
            "image": Level(
                closed=True,
                keys="digest pullPolicy registry repository tag",
            ),
            "deployment": Level(
                closed=False,
                keys=(
                    "additionalContainers additionalVolumes annotations dnsConfig dnsPolicy enabled "
                    "goMemLimitPercentage healthchecksHost healthchecksPort healthchecksScheme "
                    "hostAliases hostUsers imagePullSecrets initContainers kind labels lifecycle "
                    "livenessPath minReadySeconds podAnnotations podLabels readinessPath replicas "
                    "revisionHistoryLimit runtimeClassName shareProcessNamespace "
                    "terminationGracePeriodSeconds tmpVolume"
                ),
            ),
        },
        open=[
            "accessLog.fields.headers.names",
            "deployment.podAnnotations",
            "experimental.localPlugins.*.source",
            "nodeSelector",
            "podSecurityContext",
            "resources",
            "securityContext",
            "service.annotations",
            "service.spec",
        ],
        named=["ports", "experimental.localPlugins"],
    ),
    "kube-prometheus-stack": Chart(
        version="88.5.3",
        sources=[
            "https://github.com/prometheus-community/helm-charts/blob/kube-prometheus-stack-88.5.3/"
            "charts/kube-prometheus-stack/values.yaml",
            "grafana.*: https://github.com/grafana-community/helm-charts/blob/grafana-12.11.1/"
            "charts/grafana/values.yaml (the subchart version in Chart.yaml)",
            "kube-state-metrics.*: https://github.com/prometheus-community/helm-charts/blob/"
            "kube-state-metrics-8.4.0/charts/kube-state-metrics/values.yaml",
        ],
        levels={
            "": Level(
                closed=False,
                keys=(
                    "additionalPrometheusRulesMap alertmanager cleanPrometheusOperatorObjectNames "
                    "commonLabels coreDns crds customRules defaultRules extraManifests "
                    "fullnameOverride global grafana kube-state-metrics kubeApiServer "
                    "kubeControllerManager kubeDns kubeEtcd kubeProxy kubeScheduler kubeStateMetrics "
                    "kubeTargetVersionOverride kubeVersionOverride kubelet kubernetesServiceMonitors "
                    "nameOverride namespaceOverride nodeExporter prometheus prometheus-node-exporter "
                    "prometheus-windows-exporter prometheusOperator thanosRuler windowsMonitoring"
                ),
            ),
            "crds": Level(
                closed=False,
                keys="enabled upgradeJob",
            ),
            "prometheusOperator": Level(
                closed=False,
                keys=(
                    "admissionWebhooks affinity alertmanagerConfigNamespaces "
                    "alertmanagerInstanceNamespaces alertmanagerInstanceSelector annotations "
                    "automountServiceAccountToken containerSecurityContext denyNamespaces dnsConfig "
                    "enabled env extraArgs extraVolumeMounts extraVolumes featureGates "
                    "fullnameOverride hostNetwork hostUsers image kubeletEndpointSliceEnabled "
                    "kubeletEndpointsEnabled kubeletService labels lifecycle livenessProbe namespaces "
                    "networkPolicy nodeSelector podAnnotations podDisruptionBudget podLabels "
                    "prometheusConfigReloader prometheusInstanceNamespaces prometheusInstanceSelector "
                    "readinessProbe resources revisionHistoryLimit secretFieldSelector "
                    "securityContext service serviceAccount serviceMonitor strategy "
                    "terminationGracePeriodSeconds thanosImage thanosRulerInstanceNamespaces "
                    "thanosRulerInstanceSelector tls tolerations verticalPodAutoscaler"
                ),
            ),
            "prometheusOperator.admissionWebhooks": Level(
                closed=False,
                keys=(
                    "annotations caBundle certManager createSecretJob deployment enabled "
                    "failurePolicy matchConditions mutatingWebhookConfiguration namespaceSelector "
                    "objectSelector patch patchWebhookJob timeoutSeconds "
                    "validatingWebhookConfiguration"
                ),
            ),
            "prometheusOperator.tls": Level(
                closed=False,
                keys="enabled internalPort tlsMinVersion",
            ),
            "prometheus": Level(
                closed=False,
                keys=(
                    "additionalLabels additionalPodMonitors additionalRulesForClusterRole "
                    "additionalServiceMonitors agentMode annotations enabled extraSecret ingress "
                    "ingressPerReplica networkPolicy podDisruptionBudget prometheusSpec route "
                    "routePerReplica service serviceAccount serviceMonitor servicePerReplica "
                    "thanosIngress thanosService thanosServiceExternal thanosServiceMonitor "
                    "verticalPodAutoscaler"
                ),
            ),
            "prometheus.prometheusSpec": Level(
                closed=False,
                keys=(
                    "additionalAlertManagerConfigs additionalAlertManagerConfigsSecret "
                    "additionalAlertRelabelConfigs additionalAlertRelabelConfigsSecret additionalArgs "
                    "additionalConfig additionalConfigString additionalPrometheusSecretsAnnotations "
                    "additionalRemoteRead additionalRemoteWrite additionalScrapeConfigs "
                    "additionalScrapeConfigsSecret affinity alertingEndpoints allowOverlappingBlocks "
                    "apiserverConfig arbitraryFSAccessThroughSMs automountServiceAccountToken "
                    "bodySizeLimit configMaps containers convertClassicHistogramsToNHCB "
                    "disableAlerting disableCompaction dnsConfig dnsPolicy enableAdminAPI "
                    "enableFeatures enableOTLPReceiver enableRemoteWriteReceiver enableServiceLinks "
                    "enforcedBodySizeLimit enforcedKeepDroppedTargets enforcedLabelLimit "
                    "enforcedLabelNameLengthLimit enforcedLabelValueLengthLimit "
                    "enforcedNamespaceLabel enforcedSampleLimit enforcedTargetLimit "
                    "evaluationInterval excludedFromEnforcement exemplars externalLabels externalUrl "
                    "hostAliases hostNetwork hostUsers ignoreNamespaceSelectors image initContainers "
                    "keepDroppedTargets labelLimit labelNameLengthLimit labelValueLengthLimit "
                    "listenLocal logFormat logLevel maximumStartupDurationSeconds minReadySeconds "
                    "nameEscapingScheme nameValidationScheme nodeSelector otlp overrideHonorLabels "
                    "overrideHonorTimestamps paused persistentVolumeClaimRetentionPolicy "
                    "podAntiAffinity podAntiAffinityTopologyKey podManagementPolicy podMetadata "
                    "podMonitorNamespaceSelector podMonitorSelector "
                    "podMonitorSelectorNilUsesHelmValues podTargetLabels portName priorityClassName "
                    "probeNamespaceSelector probeSelector probeSelectorNilUsesHelmValues "
                    "prometheusExternalLabelName prometheusExternalLabelNameClear "
                    "prometheusRulesExcludedFromEnforce query queryLogFile reloadStrategy remoteRead "
                    "remoteWrite remoteWriteDashboards remoteWriteReceiverMessageVersions "
                    "replicaExternalLabelName replicaExternalLabelNameClear replicas resources "
                    "retention retentionSize routePrefix ruleNamespaceSelector ruleQueryOffset "
                    "ruleSelector ruleSelectorNilUsesHelmValues runtime sampleLimit schedulerName "
                    "scrapeClasses scrapeClassicHistograms scrapeConfigNamespaceSelector "
                    "scrapeConfigSelector scrapeConfigSelectorNilUsesHelmValues scrapeFailureLogFile "
                    "scrapeInterval scrapeNativeHistograms scrapeProtocols scrapeTimeout secrets "
                    "securityContext serviceDiscoveryRole serviceMonitorNamespaceSelector "
                    "serviceMonitorSelector serviceMonitorSelectorNilUsesHelmValues serviceName "
                    "shardRetentionPolicy shardingStrategy shards storageSpec targetLimit "
                    "terminationGracePeriodSeconds thanos tolerations topologySpreadConstraints "
                    "tracingConfig tsdb updateStrategy version volumeMounts volumes walCompression "
                    "web"
                ),
            ),
            "alertmanager": Level(
                closed=False,
                keys=(
                    "additionalLabels alertmanagerSpec annotations apiVersion config enableFeatures "
                    "enabled extraSecret forceDeployDashboards ingress ingressPerReplica "
                    "namespaceOverride networkPolicy podDisruptionBudget route routePerReplica secret "
                    "service serviceAccount serviceMonitor servicePerReplica stringConfig "
                    "templateFiles tplConfig verticalPodAutoscaler"
                ),
            ),
            "alertmanager.alertmanagerSpec": Level(
                closed=False,
                keys=(
                    "additionalArgs additionalConfig additionalConfigString additionalPeers affinity "
                    "alertmanagerConfigMatcherStrategy alertmanagerConfigNamespaceSelector "
                    "alertmanagerConfigSelector alertmanagerConfiguration "
                    "automountServiceAccountToken clusterAdvertiseAddress clusterGossipInterval "
                    "clusterLabel clusterPeerTimeout clusterPushpullInterval clusterTLS configMaps "
                    "containers dnsConfig dnsPolicy enableServiceLinks externalUrl "
                    "forceEnableClusterMode hostAliases hostNetwork hostUsers image initContainers "
                    "limits listenLocal logFormat logLevel minReadySeconds nodeSelector paused "
                    "persistentVolumeClaimRetentionPolicy podAntiAffinity podAntiAffinityTopologyKey "
                    "podManagementPolicy podMetadata portName priorityClassName replicas resources "
                    "retention routePrefix schedulerName scheme secrets securityContext serviceName "
                    "storage terminationGracePeriodSeconds tlsConfig tolerations "
                    "topologySpreadConstraints updateStrategy useExistingSecret volumeMounts volumes "
                    "web"
                ),
            ),
            "grafana": Level(
                closed=False,
                keys=(
                    "additionalDataSources additionalDataSourcesString admin adminUser affinity "
                    "alerting assertNoLeakedSecrets automountServiceAccountToken autoscaling "
                    "containerSecurityContext createConfigmap dashboardProviders dashboards "
                    "dashboardsConfigMaps datasources defaultCurlOptions defaultDashboardsEditable "
                    "defaultDashboardsEnabled defaultDashboardsInterval defaultDashboardsTimezone "
                    "deleteDatasources deploymentStrategy dnsConfig dnsPolicy downloadDashboards "
                    "downloadDashboardsImage enableKubeBackwardCompatibility enableServiceLinks "
                    "enabled env envFromConfigMaps envFromSecret envFromSecrets envRenderSecret "
                    "envValueFrom extraConfigmapMounts extraContainerVolumes extraContainers "
                    "extraEmptyDirMounts extraExposePorts extraInitContainers extraLabels "
                    "extraObjects extraSecretMounts extraVolumeMounts extraVolumes "
                    "forceDeployDashboards forceDeployDatasources global gossipPortName grafana.ini "
                    "headlessService hostAliases hostUsers image imageRenderer ingress initChownData "
                    "ldap lifecycleHooks listenerSet livenessProbe namespaceOverride networkPolicy "
                    "nodeSelector notifiers operator persistence plugins podDisruptionBudget "
                    "podPortName progressDeadlineSeconds prune rbac readinessProbe replicas resources "
                    "revisionHistoryLimit route securityContext service serviceAccount serviceMonitor "
                    "shadowBundledPlugins shareProcessNamespace sidecar smtp startupProbe "
                    "testFramework tolerations topologySpreadConstraints useStatefulSet "
                    "verticalPodAutoscaler"
                ),
                extra={
                    "fullnameOverride": "read by templates/_helpers.tpl grafana.fullname, https://github.com/"
                    "grafana-community/helm-charts/blob/grafana-12.11.1/charts/grafana/templates/_helpers.tpl",
                },
            ),
            "grafana.service": Level(
                closed=False,
                keys=(
                    "annotations appProtocol enabled ipFamilies ipFamilyPolicy labels "
                    "loadBalancerClass loadBalancerIP loadBalancerSourceRanges port portName "
                    "sessionAffinity targetPort trafficDistribution type"
                ),
            ),
            "grafana.admin": Level(
                closed=False,
                keys="existingSecret passwordKey userKey",
            ),
            "grafana.sidecar": Level(
                closed=False,
                keys=(
                    "alerts dashboards datasources enableUniqueFilenames image imagePullPolicy "
                    "livenessProbe notifiers plugins readinessProbe resources securityContext"
                ),
            ),
            "grafana.sidecar.dashboards": Level(
                closed=False,
                keys=(
                    "SCProvider annotations defaultFolderName enableNewTablePanelSyntax enabled env "
                    "envValueFrom extraMounts folder folderAnnotation initDashboards label labelValue "
                    "multicluster provider reloadURL resource resourceName script searchNamespace "
                    "sizeLimit skipReload watchMethod"
                ),
            ),
            "grafana.sidecar.dashboards.provider": Level(
                closed=False,
                keys=(
                    "allowUiUpdates disableDelete folder folderUid foldersFromFilesStructure name orgid type"
                ),
            ),
            "grafana.sidecar.datasources": Level(
                closed=False,
                keys=(
                    "alertmanager annotations createPrometheusReplicasDatasources "
                    "defaultDatasourceEnabled enabled env envValueFrom exemplarTraceIdDestinations "
                    "extraMounts httpMethod initDatasources isDefaultDatasource label labelValue name "
                    "prometheusServiceName reloadURL resource resourceName script searchNamespace "
                    "sizeLimit skipReload uid watchMethod"
                ),
            ),
            "grafana.persistence": Level(
                closed=False,
                keys=(
                    "accessModes disableWarning enabled extraPvcLabels finalizers inMemory "
                    "lookupVolumeName persistentVolumeClaimRetentionPolicy size type volumeName"
                ),
            ),
            "grafana.image": Level(
                closed=False,
                keys="pullPolicy pullSecrets registry repository sha tag",
            ),
            "kubeControllerManager": Level(
                closed=False,
                keys="enabled endpoints jobNameOverride service serviceMonitor",
            ),
            "kubeScheduler": Level(
                closed=False,
                keys="enabled endpoints jobNameOverride service serviceMonitor",
            ),
            "kubeEtcd": Level(
                closed=False,
                keys="enabled endpoints service serviceMonitor",
            ),
            "kubeProxy": Level(
                closed=False,
                keys="enabled endpoints jobNameOverride service serviceMonitor",
            ),
            "kube-state-metrics": Level(
                closed=False,
                keys=(
                    "affinity annotations authFilter automountServiceAccountToken autosharding "
                    "collectors collectorsExclude collectorsExtra containerSecurityContext containers "
                    "customLabels customResourceState dnsConfig dnsPolicy env extraArgs "
                    "extraManifests fullnameOverride global hostNetwork hostUsers image "
                    "imagePullSecrets initContainers kubeRBACProxy kubeconfig labels livenessProbe "
                    "metricAllowlist metricAnnotationsAllowList metricDenylist metricLabelsAllowlist "
                    "nameOverride namespaceOverride namespaces namespacesDenylist networkPolicy "
                    "nodeSelector podAnnotations podDisruptionBudget podLabels prometheus "
                    "prometheusScrape rbac readinessProbe releaseLabel releaseNamespace replicas "
                    "resources revisionHistoryLimit securityContext selectorOverride selfMonitor "
                    "service serviceAccount startupProbe tolerations topologySpreadConstraints "
                    "verticalPodAutoscaler volumeMounts volumes"
                ),
            ),
        },
        open=[
            # A LabelSelector, and {type: <strategy>}: values.yaml declares both as {} (88.5.3
            # lines "alertmanagerConfigSelector: {}", "alertmanagerConfigMatcherStrategy: {}") and
            # templates/alertmanager/alertmanager.yaml copies them into the Alertmanager as given;
            # their fields are the operator's (KPS_ALERTMANAGER_FACTS below).
            "alertmanager.alertmanagerSpec.alertmanagerConfigMatcherStrategy",
            "alertmanager.alertmanagerSpec.alertmanagerConfigSelector",
            "alertmanager.alertmanagerSpec.nodeSelector",
            "grafana.grafana.ini",
            "grafana.nodeSelector",
            "kube-state-metrics.nodeSelector",
            "prometheus.prometheusSpec.nodeSelector",
            "prometheus.prometheusSpec.serviceMonitorNamespaceSelector",
            "prometheus.prometheusSpec.storageSpec",
            "prometheusOperator.nodeSelector",
        ],
    ),
    "loki": Chart(
        version="18.11.0",
        sources=[
            "https://github.com/grafana-community/helm-charts/blob/loki-18.11.0/"
            "charts/loki/values.schema.json",
            "https://github.com/grafana-community/helm-charts/blob/loki-18.11.0/charts/loki/values.yaml",
        ],
        levels={
            "": Level(
                closed=False,
                keys=(
                    "backend bloomBuilder bloomGateway bloomPlanner chunksCache commonLabels "
                    "compactor defaults deploymentMode distributor extraObjects fullnameOverride "
                    "gateway global ignoreMinioDeprecation imagePullSecrets indexGateway ingester "
                    "ingress kubeVersionOverride loki lokiCanary memberlist memcached "
                    "memcachedExporter migrate minio monitoring nameOverride namespaceOverride "
                    "networkPolicy overridesExporter patternIngester podDisruptionBudget querier "
                    "queryFrontend queryScheduler rbac read resultsCache rollout_operator route ruler "
                    "serviceAccount sidecar singleBinary tableManager test write"
                ),
            ),
            "loki": Level(
                closed=False,
                keys=(
                    "analytics annotations auth_enabled block_builder bloom_build bloom_gateway "
                    "commonConfig compactor compactor_grpc_client config configObjectName "
                    "configStorageType containerSecurityContext distributor dnsConfig "
                    "enableServiceLinks extraMemberlistConfig frontend frontend_worker "
                    "generatedConfigObjectName image index_gateway ingester ingester_client "
                    "limits_config livenessProbe memberlistConfig operational_config pattern_ingester "
                    "podAnnotations podLabels podSecurityContext querier query_range query_scheduler "
                    "readinessProbe revisionHistoryLimit rulerConfig runtimeConfig schemaConfig "
                    "server service serviceAnnotations serviceLabels startupProbe storage "
                    "storage_config structuredConfig tenants testSchemaConfig tracing ui "
                    "useTestSchema"
                ),
            ),
            "loki.commonConfig": Level(
                closed=False,
                keys="compactor_grpc_address path_prefix replication_factor",
            ),
            "loki.storage": Level(
                closed=False,
                keys="azure filesystem gcs object_store s3 swift type use_thanos_objstore",
            ),
            "loki.limits_config": Level(
                closed=False,
                keys=(
                    "max_cache_freshness_per_query query_timeout reject_old_samples "
                    "reject_old_samples_max_age split_queries_by_interval volume_enabled"
                ),
                extra={
                    "retention_period": "Loki v3.5.7 pkg/validation/limits.go Limits yaml:retention_period, "
                    "https://github.com/grafana/loki/blob/v3.5.7/pkg/validation/limits.go",
                },
            ),
            # The chart passes loki.compactor through to Loki's config (values.yaml `compactor: {}`);
            # Loki v3.5.7 (compose's image tag) parses these keys, strictly: pkg/compactor/compactor.go
            # Config yaml tags, https://github.com/grafana/loki/blob/v3.5.7/pkg/compactor/compactor.go
            "loki.compactor": Level(
                closed=True,
                keys=(
                    "working_directory compaction_interval apply_retention_interval retention_enabled "
                    "retention_delete_delay retention_delete_worker_count retention_table_timeout "
                    "retention_backoff_config delete_request_store delete_request_store_key_prefix "
                    "delete_request_store_db_type backup_delete_request_store_db_type delete_batch_size "
                    "delete_request_cancel_period delete_max_interval max_compaction_parallelism "
                    "upload_parallelism compactor_ring tables_to_compact skip_latest_n_tables"
                ),
            ),
            "loki.image": Level(
                closed=False,
                keys="digest pullPolicy registry repository tag",
            ),
            "singleBinary": Level(
                closed=False,
                keys=(
                    "affinity annotations autoscaling dnsConfig enabled extraArgs extraContainers "
                    "extraEnv extraEnvFrom extraVolumeMounts extraVolumes hostUsers image "
                    "initContainers kedaAutoscaling kind labels nodeSelector persistence "
                    "podAnnotations podDisruptionBudget podLabels podManagementPolicy "
                    "priorityClassName replicas resizePolicy resources selectorLabels service sidecar "
                    "statefulSetRecreateJob strategy targetModule terminationGracePeriodSeconds "
                    "tolerations topologySpreadConstraints"
                ),
            ),
            "singleBinary.persistence": Level(
                closed=False,
                keys=(
                    "accessModes annotations dataVolumeParameters enableStatefulSetAutoDeletePVC "
                    "enabled labels selector size storageClass whenDeleted whenScaled"
                ),
            ),
            "read": Level(
                closed=False,
                keys=(
                    "affinity annotations autoscaling dnsConfig enabled extraArgs extraContainers "
                    "extraEnv extraEnvFrom extraVolumeMounts extraVolumes fullnameOverride hostUsers "
                    "image initContainers kedaAutoscaling kind labels lifecycle livenessProbe "
                    "maxUnavailable nodeSelector podAnnotations podDisruptionBudget podLabels "
                    "priorityClassName replicas resizePolicy resources selectorLabels service "
                    "serviceAccount startupProbe strategy terminationGracePeriodSeconds tolerations "
                    "topologySpreadConstraints"
                ),
            ),
            "write": Level(
                closed=False,
                keys=(
                    "affinity annotations autoscaling dnsConfig enabled extraArgs extraContainers "
                    "extraEnv extraEnvFrom extraVolumeClaimTemplates extraVolumeMounts extraVolumes "
                    "fullnameOverride hostUsers image initContainers kedaAutoscaling kind labels "
                    "lifecycle maxUnavailable nodeSelector persistence podAnnotations "
                    "podDisruptionBudget podLabels podManagementPolicy priorityClassName replicas "
                    "resizePolicy resources selectorLabels service serviceAccount "
                    "statefulSetRecreateJob strategy terminationGracePeriodSeconds tolerations "
                    "topologySpreadConstraints"
                ),
            ),
            "backend": Level(
                closed=False,
                keys=(
                    "affinity annotations automountServiceAccountToken autoscaling dnsConfig enabled "
                    "extraArgs extraContainers extraEnv extraEnvFrom extraVolumeMounts extraVolumes "
                    "fullnameOverride hostUsers image initContainers kedaAutoscaling kind labels "
                    "maxUnavailable nodeSelector persistence podAnnotations podDisruptionBudget "
                    "podLabels podManagementPolicy priorityClassName replicas resizePolicy resources "
                    "selectorLabels service serviceAccount sidecar statefulSetRecreateJob strategy "
                    "terminationGracePeriodSeconds tolerations topologySpreadConstraints"
                ),
            ),
            "gateway": Level(
                closed=False,
                keys=(
                    "affinity annotations automountServiceAccountToken autoscaling basicAuth "
                    "containerPort containerSecurityContext deploymentStrategy dnsConfig enabled "
                    "extraArgs extraContainers extraEnv extraEnvFrom extraVolumeMounts extraVolumes "
                    "hostUsers image ingress kedaAutoscaling lifecycle livenessProbe metrics "
                    "nginxConfig nodeSelector podAnnotations podDisruptionBudget podLabels "
                    "podSecurityContext priorityClassName readinessProbe replicas resizePolicy "
                    "resources route service serviceAccount startupProbe "
                    "terminationGracePeriodSeconds tolerations topologySpreadConstraints "
                    "verboseLogging"
                ),
            ),
            "chunksCache": Level(
                closed=False,
                keys=(
                    "addresses affinity allocatedCPU allocatedMemory annotations batchSize "
                    "connectionLimit defaultValidity dnsConfig enabled extraArgs extraContainers "
                    "extraExtendedOptions extraVolumeMounts extraVolumes hostUsers initContainers l2 "
                    "maxItemMemory maxUnavailable nodeSelector parallelism persistence podAnnotations "
                    "podDisruptionBudget podLabels podManagementPolicy port priorityClassName "
                    "replicas resizePolicy resources service statefulStrategy suffix "
                    "terminationGracePeriodSeconds timeout tolerations topologySpreadConstraints "
                    "writebackBuffer writebackParallelism writebackSizeLimit"
                ),
            ),
            "resultsCache": Level(
                closed=False,
                keys=(
                    "addresses affinity allocatedCPU allocatedMemory annotations connectionLimit "
                    "defaultValidity dnsConfig enabled extraArgs extraContainers extraExtendedOptions "
                    "extraVolumeMounts extraVolumes hostUsers initContainers maxItemMemory "
                    "maxUnavailable nodeSelector persistence podAnnotations podDisruptionBudget "
                    "podLabels podManagementPolicy port priorityClassName replicas resizePolicy "
                    "resources service statefulStrategy terminationGracePeriodSeconds timeout "
                    "tolerations topologySpreadConstraints writebackBuffer writebackParallelism "
                    "writebackSizeLimit"
                ),
            ),
            "lokiCanary": Level(
                closed=False,
                keys=(
                    "affinity annotations automountServiceAccountToken containerSecurityContext "
                    "dnsConfig enabled extraArgs extraEnv extraEnvFrom extraVolumeMounts extraVolumes "
                    "hostUsers image kind labelname labels livenessProbe lokiurl nodeSelector "
                    "podAnnotations podDisruptionBudget podLabels podSecurityContext "
                    "priorityClassName push readinessProbe replicas resizePolicy resources "
                    "revisionHistoryLimit service serviceAccount startupProbe tenant tolerations "
                    "updateStrategy"
                ),
            ),
            "test": Level(
                closed=False,
                keys=(
                    "annotations canaryServiceAddress enabled hostUsers image labels "
                    "prometheusAddress timeout"
                ),
            ),
            "minio": Level(
                closed=False,
                keys=(
                    "address buckets drivesPerNode enabled persistence replicas resources "
                    "rootPassword rootUser users"
                ),
            ),
        },
        open=["loki.schemaConfig", "singleBinary.nodeSelector"],
    ),
    "alloy": Chart(
        version="1.11.1",
        sources=[
            "https://github.com/grafana/alloy/blob/helm-chart/1.11.1/operations/helm/charts/alloy/values.yaml",
        ],
        levels={
            "": Level(
                closed=False,
                keys=(
                    "alloy configReloader controller crds extraObjects fullnameOverride global image "
                    "ingress nameOverride namespaceOverride networkPolicy rbac service serviceAccount "
                    "serviceMonitor"
                ),
            ),
            "controller": Level(
                closed=False,
                keys=(
                    "affinity autoscaling dnsPolicy enableStatefulSetAutoDeletePVC extraAnnotations "
                    "extraContainers extraLabels hostNetwork hostPID initContainers minReadySeconds "
                    "nodeSelector parallelRollout podAnnotations podDisruptionBudget podLabels "
                    "priorityClassName replicas revisionHistoryLimit terminationGracePeriodSeconds "
                    "tolerations topologySpreadConstraints type updateStrategy volumeClaimTemplates "
                    "volumes"
                ),
            ),
            "alloy": Level(
                closed=False,
                keys=(
                    "clustering command configMap enableHttpServerPort enableReporting envFrom "
                    "extraArgs extraEnv extraPorts hostAliases initialDelaySeconds lifecycle "
                    "listenAddr listenPort listenScheme livenessProbe mounts resources "
                    "securityContext stabilityLevel storagePath timeoutSeconds uiPathPrefix"
                ),
            ),
            "alloy.mounts": Level(
                closed=False,
                keys="dockercontainers extra varlog",
            ),
            "alloy.configMap": Level(
                closed=False,
                keys="content create key name",
            ),
        },
        open=[],
    ),
}


# --- how the Traefik chart (v41.3.0) mounts a local plugin, and how Traefik v3.7 loads one -------
# traefik/traefik-helm-chart v41.3.0: templates/_helpers.tpl traefik.getLocalPluginType accepts
# `type` hostPath, inlinePlugin or localPath; templates/local-plugins-cm.yaml renders, for each
# inlinePlugin, a ConfigMap `<fullname>-local-plugin-<name with . as ->` whose data is `source`
# (file name -> text); templates/_podtemplate.tpl mounts it as volume `<name with . as ->` at
# `mountPath`, readOnly, and passes --experimental.localPlugins.<name>.moduleName=<moduleName>.
# Its templates set no workingDir, and EXAMPLES.md ("Local Plugins") mounts every plugin at
# /plugins-local/src/<moduleName>. The chart adds no checksum of that ConfigMap to the pod
# template (templates/_podtemplate.tpl metadata.annotations: deployment.podAnnotations only).
TRAEFIK_LOCAL_PLUGIN_TYPES = ("hostPath", "inlinePlugin", "localPath")
TRAEFIK_LOCAL_PLUGIN_CONFIGMAP = "{fullname}-local-plugin-{name}"
TRAEFIK_LOCAL_PLUGIN_SOURCES = [
    "https://github.com/traefik/traefik-helm-chart/blob/v41.3.0/traefik/templates/local-plugins-cm.yaml",
    "https://github.com/traefik/traefik-helm-chart/blob/v41.3.0/traefik/templates/_podtemplate.tpl",
    "https://github.com/traefik/traefik-helm-chart/blob/v41.3.0/traefik/templates/_helpers.tpl",
    "https://github.com/traefik/traefik-helm-chart/blob/v41.3.0/EXAMPLES.md",
]
# traefik/traefik v3.7.9 pkg/plugins/plugins.go: `const localGoPath = "./plugins-local/"`, and
# ReadManifest(localGoPath, moduleName) reads <localGoPath>/src/<moduleName>/.traefik.yml: the
# path is relative to Traefik's working directory. traefik/traefik-library-image v3.7/alpine/
# Dockerfile (the docker.io/traefik image the chart runs) sets no WORKDIR, so that is /.
TRAEFIK_LOCAL_GOPATH = "./plugins-local/"
TRAEFIK_IMAGE_WORKDIR = "/"
# traefik v3.7.9 pkg/server/middleware/plugins.go findPluginConfig: a Middleware's `plugin` must
# hold exactly one entry ("no configuration or too many plugin definition"), and
# pkg/plugins/builder.go Build looks its key up among the plugins of the static configuration.


# --- kube-prometheus-stack 88.5.3: how the chart selects Probes and AlertmanagerConfigs -----------
# templates/prometheus/prometheus.yaml: probeSelector is the value given, else {release: <release>}
# while probeSelectorNilUsesHelmValues is true, else {} (every Probe); probeNamespaceSelector is {}
# unless set. templates/alertmanager/alertmanager.yaml: alertmanagerConfigSelector is the value
# given, else {} (values.yaml default {}: every AlertmanagerConfig); alertmanagerConfigNamespaceSelector
# is copied as given (default {}); alertmanagerConfigMatcherStrategy only when set.
# prometheus-operator v0.93.0 pkg/apis/monitoring/v1/alertmanager_types.go
# AlertmanagerConfigMatcherStrategy.type: enum OnNamespace (default: routes get
# namespace="<the AlertmanagerConfig's namespace>"), OnNamespaceExceptForAlertmanagerNamespace (no
# such matcher for AlertmanagerConfigs in the Alertmanager's own namespace), None.
KPS_ALERTMANAGER_FACTS = {
    "probe_selector_nil_uses_helm_values": "probeSelectorNilUsesHelmValues",
    "config_selector": "alertmanagerConfigSelector",
    "matcher_strategy": "alertmanagerConfigMatcherStrategy",
    "matcher_strategy_types": ("OnNamespace", "OnNamespaceExceptForAlertmanagerNamespace", "None"),
}
KPS_ALERTMANAGER_SOURCES = [
    "https://github.com/prometheus-community/helm-charts/blob/kube-prometheus-stack-88.5.3/"
    "charts/kube-prometheus-stack/templates/alertmanager/alertmanager.yaml",
    "https://github.com/prometheus-community/helm-charts/blob/kube-prometheus-stack-88.5.3/"
    "charts/kube-prometheus-stack/templates/prometheus/prometheus.yaml",
    "https://github.com/prometheus-operator/prometheus-operator/blob/v0.93.0/"
    "pkg/apis/monitoring/v1/alertmanager_types.go",
]
