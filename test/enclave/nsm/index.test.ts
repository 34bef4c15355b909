import { createNsm } from "../../../enclave/nsm";
import { cborEncoder } from "../../../enclave/nsm/codec";
import { DeviceNsm } from "../../../enclave/nsm/device-nsm";
import { LocalNsm } from "../../../enclave/nsm/local-nsm";
import { localSetup } from "./fixtures";

describe("createNsm", () => {
  it('"device" gives the device NSM, which talks the NSM wire format over its exchange', async () => {
    const document = Buffer.from([0xd2, 1, 2, 3]);
    const exchange = jest.fn(async () => Buffer.from(cborEncoder.encode(new Map([["Attestation", new Map([["document", document]])]]))));
    const nsm = createNsm({ mode: "device", exchange });
    expect(nsm).toBeInstanceOf(DeviceNsm);
    expect(nsm.kind).toBe("device");
    await expect(nsm.attest({ nonce: Buffer.from("n") })).resolves.toEqual(document);
    expect(exchange).toHaveBeenCalledTimes(1);
  });

  it('"local" gives the local twin over the given bundle', () => {
    const { bundlePath, devCaDir } = localSetup();
    const nsm = createNsm({ mode: "local", bundlePath, devCaDir });
    expect(nsm).toBeInstanceOf(LocalNsm);
    expect(nsm.kind).toBe("local");
  });
});
