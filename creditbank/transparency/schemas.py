from pydantic import BaseModel, Field


class LogInfo(BaseModel):
    id: str = Field(description="log id used in the URLs")
    origin: str = Field(description="checkpoint origin line, also the key name")
    verifier_key: str = Field(description="C2SP verifier key text: <name>+<hex key id>+<base64(0x01||key)>")
    size: int = Field(description="size of the latest published checkpoint")


class Entry(BaseModel):
    index: int = Field(description="leaf index (the entry's sequence number)")
    leaf: str = Field(description="the leaf bytes (RFC 8785 JSON of the journal entry), standard base64")
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), standard base64")


class Entries(BaseModel):
    entries: list[Entry]


class InclusionProof(BaseModel):
    index: int
    size: int = Field(description="tree size the proof is for (a published checkpoint's)")
    leaf_hash: str = Field(description="standard base64")
    proof: list[str] = Field(description="RFC 9162 inclusion proof, standard base64 hashes")
    checkpoint: str = Field(description="the signed checkpoint of that size")


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 consistency proof, standard base64 hashes")
    checkpoint: str = Field(description="the signed checkpoint of size second")
