"""The cloud half of Raindrop: typed stack config and the Alibaba Cloud components."""
