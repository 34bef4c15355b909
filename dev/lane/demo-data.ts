/** The demo data now lives in the dev room (dev/demo-data.ts); this path stays for existing importers. */
export * from "../../dev/demo-data";
