from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataPlaneMessage(_message.Message):
    __slots__ = ("hello", "ack", "ping")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    PING_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    ack: Ack
    ping: Ping
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., ack: _Optional[_Union[Ack, _Mapping]] = ..., ping: _Optional[_Union[Ping, _Mapping]] = ...) -> None: ...

class PluginInfo(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("node_id", "hostname", "version", "plugins", "labels", "config_version", "config_hash")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    hostname: str
    version: str
    plugins: _containers.RepeatedCompositeFieldContainer[PluginInfo]
    labels: _containers.ScalarMap[str, str]
    config_version: int
    config_hash: str
    def __init__(self, node_id: _Optional[str] = ..., hostname: _Optional[str] = ..., version: _Optional[str] = ..., plugins: _Optional[_Iterable[_Union[PluginInfo, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., config_version: _Optional[int] = ..., config_hash: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("version", "hash", "applied", "error")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    version: int
    hash: str
    applied: bool
    error: str
    def __init__(self, version: _Optional[int] = ..., hash: _Optional[str] = ..., applied: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ("config_version", "config_hash")
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    config_hash: str
    def __init__(self, config_version: _Optional[int] = ..., config_hash: _Optional[str] = ...) -> None: ...

class ControlPlaneMessage(_message.Message):
    __slots__ = ("full", "delta", "pong", "refusal")
    FULL_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    PONG_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    full: FullConfig
    delta: Delta
    pong: Pong
    refusal: Refusal
    def __init__(self, full: _Optional[_Union[FullConfig, _Mapping]] = ..., delta: _Optional[_Union[Delta, _Mapping]] = ..., pong: _Optional[_Union[Pong, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ...) -> None: ...

class FullConfig(_message.Message):
    __slots__ = ("version", "hash", "hashes", "encoding", "payload")
    class HashesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    version: int
    hash: str
    hashes: _containers.ScalarMap[str, str]
    encoding: str
    payload: bytes
    def __init__(self, version: _Optional[int] = ..., hash: _Optional[str] = ..., hashes: _Optional[_Mapping[str, str]] = ..., encoding: _Optional[str] = ..., payload: _Optional[bytes] = ...) -> None: ...

class Delta(_message.Message):
    __slots__ = ("from_version", "to_version", "hash", "hashes", "encoding", "payload")
    class HashesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    HASHES_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    from_version: int
    to_version: int
    hash: str
    hashes: _containers.ScalarMap[str, str]
    encoding: str
    payload: bytes
    def __init__(self, from_version: _Optional[int] = ..., to_version: _Optional[int] = ..., hash: _Optional[str] = ..., hashes: _Optional[_Mapping[str, str]] = ..., encoding: _Optional[str] = ..., payload: _Optional[bytes] = ...) -> None: ...

class Pong(_message.Message):
    __slots__ = ("config_version",)
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    config_version: int
    def __init__(self, config_version: _Optional[int] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("sync_status", "reason")
    SYNC_STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    sync_status: str
    reason: str
    def __init__(self, sync_status: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
