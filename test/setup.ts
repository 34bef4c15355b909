// Shared jest setup. cdktf's matchers are registered here so stack tests can use them.
import { Testing } from "cdktf";
Testing.setupJest();
