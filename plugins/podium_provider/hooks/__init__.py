"""Hooks: an Airflow Connection, read through any secrets backend, as the fields the core's resolver expects."""

from plugins.podium_provider.hooks.podium import (
    PodiumApiKeyHook,
    PodiumBasicHook,
    PodiumBearerHook,
    PodiumHmacHook,
    PodiumHook,
    PodiumNoAuthHook,
    PodiumOAuth2Hook,
    PodiumS3Hook,
    PodiumSoapShopHook,
    connection_fields,
)

__all__ = ["PodiumApiKeyHook", "PodiumBasicHook", "PodiumBearerHook", "PodiumHmacHook", "PodiumHook",
           "PodiumNoAuthHook", "PodiumOAuth2Hook", "PodiumS3Hook", "PodiumSoapShopHook", "connection_fields"]
