"""The ``aliyun`` backend on one machine: the stack a deployment creates, played by the wire-level doubles.

``./scripts/dev --aliyun-doubles`` (and the end-to-end tests' ``aliyun`` backend) run the very same functions with
``KYC_BACKEND=aliyun``: the real Tablestore SDK, the real OSS SDK and our MNS client talk HTTP to
``tools.doubles``. What a deployment does is played from the deployment files themselves, not from a copy:

* the ROS stack (template.yml) → the three doubles, their resources named as ``s deploy`` names them: the stack's
  parameters are s.yaml's ``kyc-infra`` parameters over the template's defaults (``tools.deployment``), so the
  Tablestore instance and table, the bucket (SSE-KMS required, as the bucket's KMS encryption and our policy
  demand), and every queue with its template attributes (visibility timeout, size, retention) are the template's;
* the functions' configuration → s.yaml's ``environmentVariables`` resolved with the stack's outputs. Of those,
  the storage variables (``STORAGE_VARIABLES``) are applied, plus ``KYC_OSS_ENDPOINT`` (s.yaml leaves it unset so
  the SDK uses the region's public endpoint; here it is the double's). The behaviour settings (schedules, rate
  limit, sweep times) stay the local stack's own, so exploring and tests run at local speed;
* FC's role → the keys: the doubles accept exactly the ``ALIBABA_CLOUD_*`` key the functions are given, and
  check every request's signature with it. Like the role's, the key is temporary: it comes with a security
  token (``new_sts_token``) that every service (the doubles and the vendor sandbox) requires with it;
* the EventBridge MNS triggers → the local worker, which consumes the queues through ``MnsQueue`` (dev.py).

The tables and indexes are created as the deployment creates them, from their one definition
(``shared.storage.tablestore_schema.ensure_tables``). ``AliyunDoubles.reset`` forgets every row, object and
message (and creates the tables again), so tests share one set of doubles per session.
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.credentials import KEY_ID_VARIABLE, SECRET_VARIABLE, key_from_env
from tools.deployment import (
    DeploymentError,
    default_region,
    function_environment,
    load_template,
    ros_value,
    stack_parameters,
)
from tools.doubles.mns import MnsDouble, QueueAttributes
from tools.doubles.mns.queues import ATTRIBUTE_FIELDS
from tools.doubles.mns.server import DEFAULT_ACCOUNT_ID
from tools.localstack import KEY_VARIABLES, write_private

if TYPE_CHECKING:  # imported when doubles are built: the Tablestore double loads the SDK (~0.3 s)
    from tools.doubles.oss import OssDouble
    from tools.doubles.tablestore import TablestoreDouble

#: What ``StorageSettings.from_env`` reads for the aliyun backend (tests/test_devstack_aliyun.py checks it): the part
#: of the functions' configuration the doubles stand in for.
STORAGE_VARIABLES = (
    "KYC_BACKEND",
    "KYC_TABLESTORE_ENDPOINT",
    "KYC_TABLESTORE_INSTANCE",
    "KYC_TABLESTORE_TABLE",
    "KYC_OSS_REGION",
    "KYC_OSS_BUCKET",
    "KYC_OSS_PREFIX",
    "KYC_OSS_ENDPOINT",
    "KYC_BUCKET_VERSIONING",
    "KYC_OSS_KMS_KEY_ID",
    "KYC_MNS_ENDPOINT",
    "KYC_RECHECK_QUEUE",
    "KYC_NOTIFY_QUEUE",
    "KYC_DEADLETTER_QUEUE",
)
ENV_FILE = "aliyun-doubles.env"
#: The functions' variables written to ``ENV_FILE`` for the operator CLI (``./scripts/kyc``) in another shell.
_FUNCTION_PREFIXES = ("KYC_", "CLOUDAUTH_", "ALIBABA_CLOUD_")


@dataclass(frozen=True)
class StackLayout:
    """The resources template.yml creates, named as ``s deploy`` would name them (account and region given)."""

    region: str
    account_id: str
    instance: str
    table: str
    bucket: str
    kms_key_id: str | None
    queues: dict[str, QueueAttributes]  # queue name → the template's attributes
    #: parameters and pseudo parameters (``ALIYUN::AccountId``, ``ALIYUN::Region``): what ``Ref``/``Fn::Sub`` read
    names: dict[str, str]
    #: ``Resource.Attribute`` values of the template's ``Fn::GetAtt``s, endpoints excepted (the doubles' own)
    attributes: dict[str, str]
    instance_resource: str
    outputs: dict[str, Any]  # template.yml ``Outputs``

    @classmethod
    def from_deployment(cls, env: Mapping[str, str] | None = None, account_id: str = DEFAULT_ACCOUNT_ID) -> StackLayout:
        """Read s.yaml and template.yml; ``env`` holds the deploy-time variables (``KYC_NAME_PREFIX``...)."""
        env = {} if env is None else env
        region = default_region(env)
        parameters = stack_parameters(env)
        names = {**parameters, "ALIYUN::AccountId": account_id, "ALIYUN::Region": region}
        template = load_template()
        found: dict[str, tuple[str, str]] = {}  # kind → (resource, name)
        kms_key_id: str | None = None
        queues: dict[str, QueueAttributes] = {}
        attributes: dict[str, str] = {}
        for key, resource in template["Resources"].items():
            kind, props = resource.get("Type"), resource.get("Properties") or {}
            if kind == "ALIYUN::OTS::Instance":
                found[kind] = (key, _name(props.get("InstanceName"), names, key))
                attributes[f"{key}.InstanceName"] = found[kind][1]
            elif kind == "ALIYUN::OTS::Table":
                table_name = _name(props.get("TableName"), names, key)
                attributes[f"{key}.TableName"] = table_name
                # The first is the transactions table; the others (its rate table) are named after it and made
                # with it by create_tables.
                found.setdefault(kind, (key, table_name))
            elif kind == "ALIYUN::OSS::Bucket":
                found[kind] = (key, _name(props.get("BucketName"), names, key))
                attributes[f"{key}.Name"] = found[kind][1]
                encryption = props.get("ServerSideEncryptionConfiguration") or {}
                if encryption.get("SSEAlgorithm") != "KMS":
                    raise DeploymentError(f"template.yml {key} is not SSE-KMS encrypted")
                kms_key_id = parameters.get("KmsKeyId") or None  # empty: the OSS-managed KMS key
            elif kind == "ALIYUN::MNS::Queue":
                name = _name(props.get("QueueName"), names, key)
                attributes[f"{key}.QueueName"] = name
                given: dict[str, Any] = {
                    field: (bool(props[prop]) if field == "logging_enabled" else int(props[prop]))
                    for prop, field in ATTRIBUTE_FIELDS.items()
                    if prop in props
                }
                queues[name] = QueueAttributes(**given)
        kinds = ("ALIYUN::OTS::Instance", "ALIYUN::OTS::Table", "ALIYUN::OSS::Bucket")
        if any(kind not in found for kind in kinds) or not queues:
            raise DeploymentError("template.yml lacks the Tablestore instance or table, the bucket or the queues")
        return cls(
            region=region,
            account_id=account_id,
            instance=found["ALIYUN::OTS::Instance"][1],
            table=found["ALIYUN::OTS::Table"][1],
            bucket=found["ALIYUN::OSS::Bucket"][1],
            kms_key_id=kms_key_id,
            queues=queues,
            names=names,
            attributes=attributes,
            instance_resource=found["ALIYUN::OTS::Instance"][0],
            outputs=dict(template.get("Outputs") or {}),
        )


def _name(value: Any, names: Mapping[str, str], resource: str) -> str:
    text = ros_value(value, names, {})
    if not text:
        raise DeploymentError(f"template.yml {resource}: cannot work out its name")
    return text


def create_tables(client: Any, table: str) -> None:
    """The tables and indexes of ``shared.storage.tablestore_schema`` (what a deployment creates), on ``client``."""
    from shared.storage.tablestore_schema import ensure_tables  # noqa: PLC0415 - imports the Tablestore SDK

    report = ensure_tables(client, table)
    if not report.ok:
        raise DeploymentError(f"the Tablestore double's tables differ from their definition: {report.drift}")


class AliyunDoubles:
    """Tablestore, OSS and MNS doubles laid out as the deployment's stack, accepting one key.

    ``port`` 0: any free ports; otherwise ``port``, ``port + 1`` and ``port + 2`` (Tablestore, OSS, MNS), so a
    second shell can reach them (``ENV_FILE``). ``start`` then ``environment()``; ``reset`` between tests.
    """

    def __init__(
        self,
        layout: StackLayout,
        *,
        access_key_id: str,
        access_key_secret: str,
        security_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        from tools.doubles.oss import OssDouble  # noqa: PLC0415 - see the imports
        from tools.doubles.oss.server import DEFAULT_KMS_KEY_ID  # noqa: PLC0415
        from tools.doubles.tablestore import TablestoreDouble  # noqa: PLC0415

        self.layout = layout
        self.access_key_id = access_key_id
        self.security_token = security_token
        ports = (port, port + 1, port + 2) if port else (0, 0, 0)
        keys: dict[str, Any] = {
            "access_key_id": access_key_id,
            "access_key_secret": access_key_secret,
            "security_token": security_token,
        }
        self.tablestore = TablestoreDouble(**keys, instance=layout.instance, host=host, port=ports[0])
        self.oss = OssDouble(
            **keys, bucket=layout.bucket, region=layout.region, require_kms=True,
            kms_key_id=layout.kms_key_id or DEFAULT_KMS_KEY_ID, host=host, port=ports[1],
            versioning=layout.names.get("EnableVersioning") == "true",  # the template's VersioningConfiguration
        )  # fmt: skip
        # the bucket's default encryption, as template.yml's ServerSideEncryptionConfiguration sets it
        self.oss.set_bucket_encryption(layout.bucket, "KMS", layout.kms_key_id)
        self.mns = MnsDouble(
            **keys, queues=dict(layout.queues), account_id=layout.account_id, region=layout.region, host=host,
            port=ports[2],
        )  # fmt: skip
        self._started = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, host: str = "127.0.0.1", port: int = 0) -> AliyunDoubles:
        """Doubles accepting the key in ``env`` (``ALIBABA_CLOUD_*``, what the functions sign with), laid out from
        the deployment files with ``env``'s deploy-time variables."""
        key = key_from_env(env)
        if key is None:
            raise DeploymentError(f"the doubles need {KEY_ID_VARIABLE} and {SECRET_VARIABLE} (the functions' key)")
        return cls(
            StackLayout.from_deployment(env),
            access_key_id=key.access_key_id,
            access_key_secret=key.access_key_secret,
            security_token=key.security_token,
            host=host,
            port=port,
        )

    @property
    def doubles(self) -> tuple[TablestoreDouble, OssDouble, MnsDouble]:
        return self.tablestore, self.oss, self.mns

    def start(self) -> AliyunDoubles:
        try:
            for double in self.doubles:
                double.start()
            create_tables(self._admin_client(), self.layout.table)
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        for double in self.doubles:
            double.stop()
        self._started = False

    def reset(self) -> None:
        """Forget every row, object and message, the fault plans and the counters; the empty table is back."""
        for double in self.doubles:
            double.reset()
        create_tables(self._admin_client(), self.layout.table)

    def _admin_client(self) -> Any:
        """The Tablestore SDK's client with the stack's key, its logger silenced as the functions' is (it would log
        the security token at DEBUG)."""
        from shared.storage.tablestore_store import quiet_sdk_logger  # noqa: PLC0415

        return self.tablestore.client(logger_name=quiet_sdk_logger())

    def outputs(self) -> dict[str, str]:
        """The stack's outputs (template.yml ``Outputs``) with the doubles' endpoints; those the doubles do not
        play (role, log project) are left out."""
        layout = self.layout
        attributes = {**layout.attributes, f"{layout.instance_resource}.PublicEndpoint": self.tablestore.endpoint}
        outputs: dict[str, str] = {}
        for key, spec in layout.outputs.items():
            value = ros_value((spec or {}).get("Value"), layout.names, attributes)
            if value is not None:
                outputs[key] = value
        # The template builds the MNS endpoint from the account and region (https://<account>.mns.<region>...):
        # here it is the double's.
        outputs["MnsEndpoint"] = self.mns.endpoint
        return outputs

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The storage variables s.yaml gives every function, resolved with :meth:`outputs` (``env``: the
        deploy-time variables), plus ``KYC_OSS_ENDPOINT``: the OSS double."""
        resolved = function_environment(self.outputs(), env or {})
        variables = {name: resolved[name] for name in STORAGE_VARIABLES if name in resolved}
        variables["KYC_OSS_ENDPOINT"] = self.oss.endpoint
        return variables

    def queue_depth(self, queue_name: str) -> int:
        """Messages on the queue in any state (visible, received and not yet deleted, delayed)."""
        return len(self.mns.messages(queue_name))

    def banner_lines(self) -> list[str]:
        layout = self.layout
        return [
            f"  backend              aliyun (KYC_BACKEND=aliyun) over local doubles, region {layout.region}",
            f"    tablestore         {self.tablestore.endpoint}  instance {layout.instance}, table {layout.table}",
            f"    oss                {self.oss.endpoint}  bucket {layout.bucket}, SSE-KMS required",
            f"    mns                {self.mns.endpoint}  queues {', '.join(layout.queues)}",
            f"    control APIs       <endpoint>/_double/ (faults, stats, reset); key checked: {self.access_key_id}",
        ]


def new_sts_token() -> str:
    """A security token for the stack's temporary key (STS tokens are long opaque strings; the form is ours)."""
    return "CAIS" + secrets.token_urlsafe(48)


def write_env_file(path: Path, env: Mapping[str, str], *, with_keys: bool) -> Path:
    """``export NAME='value'`` lines of the functions' variables in ``env`` (owner-only: it holds secrets), for
    ``. <file> && ./scripts/kyc ...`` against the running stack. ``with_keys``: the ``ALIBABA_CLOUD_*`` key too —
    only when it is the stack's own (its sandbox plays the vendor): a real vendor's key is never written to disk by
    the stack (``tools.localstack``); the operator's shell has it already."""
    lines = [
        f"export {name}={shlex.quote(value)}\n"
        for name, value in sorted(env.items())
        if name.startswith(_FUNCTION_PREFIXES) and value and (with_keys or name not in KEY_VARIABLES)
    ]
    write_private(path, "".join(lines).encode("utf-8"))
    return path
